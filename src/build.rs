//! Build script: gives the shared library its soname so programs linked against it keep
//! working across compatible upgrades, and, with the `hiredis` feature, compiles the C half of
//! the hiredis-compatible API.
//!
//! Without the feature the library is libredcore.so (soname `libredcore.so.<major>`). With it,
//! the Makefile installs the same build as libhiredis.so, so the soname is hiredis's:
//! `libhiredis.so.1.1.0`, what hiredis 1.2.x (the release distributions ship) records in the
//! programs linked against it. The Makefile also installs the names hiredis 1.3, 1.4 and 1.5
//! use (`libhiredis.so.1.3.0`, ...) as links to the same file: their ABI is the same for
//! callers.
fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let hiredis = std::env::var_os("CARGO_FEATURE_HIREDIS").is_some();
    if target_os == "linux" {
        let soname = if hiredis {
            "libhiredis.so.1.1.0".to_string()
        } else {
            format!("libredcore.so.{major}")
        };
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
    #[cfg(feature = "hiredis")]
    if hiredis {
        cc::Build::new()
            .file("src/compat/hiredis/variadic.c")
            .include("include/hiredis")
            .flag_if_supported("-std=c99")
            .warnings(true)
            .extra_warnings(true)
            .warnings_into_errors(true)
            .compile("redcore_hiredis_variadic");
        println!("cargo:rerun-if-changed=src/compat/hiredis/variadic.c");
        println!("cargo:rerun-if-changed=include/hiredis");
    }
    println!("cargo:rerun-if-changed=src/build.rs");
}
