use std::sync::Once;

/// Registers DejaVu Sans (shipped inside the `dejavu` crate) with plotters, so text
/// renders the same on every machine, font packages installed or not. Call it before
/// drawing text with plotters directly; xai-core's figure functions call it themselves.
pub fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ =
            plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, dejavu::sans::regular());
    });
}
