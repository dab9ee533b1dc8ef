//! Embeds libtorch's library folder as an rpath so that tests, examples and binaries
//! of this crate start without LD_LIBRARY_PATH. Every crate with binaries has this file.
fn main() {
    xai_build::link_libtorch();
}
