//! Where commands write: standard output in the binary, a buffer in tests.

use std::io::Write;

/// A command's output sink.
#[derive(Debug, Default)]
pub struct Output {
    /// Captured text when not printing (tests).
    buf: Option<Vec<u8>>,
}

impl Output {
    /// Print to standard output.
    pub fn stdout() -> Self {
        Self { buf: None }
    }

    /// Capture into memory.
    pub fn capture() -> Self {
        Self {
            buf: Some(Vec::new()),
        }
    }

    /// What was captured.
    pub fn captured(&self) -> String {
        self.buf
            .as_deref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    }

    /// Write a line.
    pub fn line(&mut self, text: impl AsRef<str>) {
        self.bytes(text.as_ref().as_bytes());
        self.bytes(b"\n");
    }

    /// Write raw bytes (DER exports).
    pub fn bytes(&mut self, b: &[u8]) {
        match &mut self.buf {
            Some(buf) => buf.extend_from_slice(b),
            None => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(b);
                let _ = out.flush();
            }
        }
    }

    /// Write a value as pretty JSON.
    pub fn json(&mut self, value: &serde_json::Value) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
        self.line(text);
    }

    /// Write rows as aligned columns under a header.
    pub fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
        for row in rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let fmt = |cells: Vec<&str>| {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        self.line(fmt(header.to_vec()));
        for row in rows {
            self.line(fmt(row.iter().map(String::as_str).collect()));
        }
    }
}
