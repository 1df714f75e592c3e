//! hisp.toml parsing with overrides: any text gives a Config or a one-line error.
#![no_main]

use hisp::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let env = vec![("HISP_HTTP_LISTEN".to_string(), "127.0.0.1:0".to_string())];
    if let Err(e) = Config::from_toml(text, "fuzz.toml", &env, std::path::PathBuf::from("/")) {
        assert!(!e.to_string().contains('\n'), "errors are one line: {e}");
    }
});
