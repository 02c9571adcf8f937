//! The exported symbols of the hiredis functions implemented in C (variadic.c): stable Rust
//! cannot define a function taking `...` or a `va_list`, and a Rust cdylib exports only the
//! symbols Rust defines. Each public name here is a naked function whose only instruction
//! jumps to the C implementation, which therefore sees its caller's registers and stack
//! exactly as if it had been called directly.

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("the hiredis feature forwards its variadic functions for x86_64 and aarch64 only");

macro_rules! forward {
    ($($(#[$doc:meta])* $public:ident => $target:ident;)*) => {
        extern "C" {
            $(fn $target();)*
        }
        $(
            $(#[$doc])*
            #[no_mangle]
            #[unsafe(naked)]
            pub unsafe extern "C" fn $public() {
                #[cfg(target_arch = "x86_64")]
                core::arch::naked_asm!("jmp {}", sym $target);
                #[cfg(target_arch = "aarch64")]
                core::arch::naked_asm!("b {}", sym $target);
            }
        )*
    };
}

forward! {
    /// `int redisvFormatCommand(char **target, const char *format, va_list ap)`.
    redisvFormatCommand => redcore_hi_redisvFormatCommand;
    /// `int redisFormatCommand(char **target, const char *format, ...)`.
    redisFormatCommand => redcore_hi_redisFormatCommand;
    /// `int redisvAppendCommand(redisContext *c, const char *format, va_list ap)`.
    redisvAppendCommand => redcore_hi_redisvAppendCommand;
    /// `int redisAppendCommand(redisContext *c, const char *format, ...)`.
    redisAppendCommand => redcore_hi_redisAppendCommand;
    /// `void *redisvCommand(redisContext *c, const char *format, va_list ap)`.
    redisvCommand => redcore_hi_redisvCommand;
    /// `void *redisCommand(redisContext *c, const char *format, ...)`.
    redisCommand => redcore_hi_redisCommand;
    /// `int redisvAsyncCommand(redisAsyncContext *ac, redisCallbackFn *fn, void *privdata,
    /// const char *format, va_list ap)`.
    redisvAsyncCommand => redcore_hi_redisvAsyncCommand;
    /// `int redisAsyncCommand(redisAsyncContext *ac, redisCallbackFn *fn, void *privdata,
    /// const char *format, ...)`.
    redisAsyncCommand => redcore_hi_redisAsyncCommand;
    /// `sds sdscatvprintf(sds s, const char *fmt, va_list ap)`.
    sdscatvprintf => redcore_hi_sdscatvprintf;
    /// `sds sdscatprintf(sds s, const char *fmt, ...)`.
    sdscatprintf => redcore_hi_sdscatprintf;
    /// `sds sdscatfmt(sds s, const char *fmt, ...)`.
    sdscatfmt => redcore_hi_sdscatfmt;
}
