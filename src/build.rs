//! Build script: gives the shared library its soname so programs linked against it keep
//! working across compatible upgrades, and, with the `hiredis` feature, compiles the C half of
//! the hiredis-compatible API.
//!
//! Without the feature the library is libredcore.so (soname `libredcore.so.<major>`). With it,
//! the build is the hiredis-compatible library, whose layouts are hiredis 1.5's, so its soname
//! is 1.5's, `libhiredis.so.1.5.0`. The Makefile links the files it installs from the static
//! archive of the same build: that one, and the one answering to hiredis 1.2's soname
//! (`libhiredis.so.1.1.0`, also named for 1.3 and 1.4), which reads 1.2's layouts
//! (src/compat/hiredis/abi.c says why).
fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let hiredis = std::env::var_os("CARGO_FEATURE_HIREDIS").is_some();
    if target_os == "linux" {
        let soname = if hiredis {
            "libhiredis.so.1.5.0".to_string()
        } else {
            format!("libredcore.so.{major}")
        };
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
    #[cfg(feature = "hiredis")]
    if hiredis {
        cc::Build::new()
            .file("src/compat/hiredis/variadic.c")
            .file("src/compat/hiredis/abi.c")
            .include("include/hiredis")
            .flag_if_supported("-std=c99")
            .warnings(true)
            .extra_warnings(true)
            .warnings_into_errors(true)
            .compile("redcore_hiredis_c");
        println!("cargo:rerun-if-changed=src/compat/hiredis/variadic.c");
        println!("cargo:rerun-if-changed=src/compat/hiredis/abi.c");
        println!("cargo:rerun-if-changed=include/hiredis");
    }
    println!("cargo:rerun-if-changed=src/build.rs");
}
