//! Called from the `build.rs` of every xai-rs crate that has binaries, tests or examples.
//!
//! torch-sys (`links = "tch"`) publishes the libtorch library folder it linked against as
//! `DEP_TCH_LIBTORCH_LIB` to crates that depend on it directly. We turn that into an
//! rpath, so `cargo run`, `cargo test` and a binary started by hand from `target/` all
//! find libtorch without LD_LIBRARY_PATH, whichever libtorch the user chose.
//!
//! ```
//! // In the `main` of build.rs of a crate with binaries, tests or examples
//! // (xai-build as a build-dependency):
//! xai_build::link_libtorch();
//! ```

/// Emits the linker arguments for the calling package's own targets.
pub fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        // torch-sys on Windows publishes nothing; the user sets PATH there.
        return;
    };
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("windows") {
        return;
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    // With --as-needed (the default of many toolchains) libtorch_cuda is dropped because
    // no symbol of it is referenced directly, and CUDA then looks absent at run time.
    if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
