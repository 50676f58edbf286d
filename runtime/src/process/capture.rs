//! One output stream's capture: keeps the first `cap` bytes and counts the rest, so a
//! reader can drain a pipe past the cap (the child never blocks on a full pipe) while
//! memory stays bounded.

/// The bytes kept from one stream, and how many were dropped past the cap.
#[derive(Debug, Default)]
pub(super) struct Capture {
    kept: Vec<u8>,
    cap: usize,
    dropped: u64,
}

impl Capture {
    /// An empty capture keeping at most `cap` bytes (`usize::MAX`: no limit).
    pub(super) fn new(cap: usize) -> Capture {
        Capture { kept: Vec::new(), cap, dropped: 0 }
    }

    /// Appends what fits under the cap and counts the rest as dropped.
    pub(super) fn push(&mut self, bytes: &[u8]) {
        let room = self.cap.saturating_sub(self.kept.len());
        let keep = room.min(bytes.len());
        self.kept.extend_from_slice(&bytes[..keep]);
        self.dropped += (bytes.len() - keep) as u64;
    }

    /// The kept bytes and the dropped count, leaving the capture empty.
    pub(super) fn take(&mut self) -> (Vec<u8>, u64) {
        (std::mem::take(&mut self.kept), std::mem::take(&mut self.dropped))
    }
}

#[cfg(test)]
mod tests {
    use super::Capture;

    #[test]
    fn keeps_the_head_and_counts_the_rest() {
        let mut c = Capture::new(5);
        c.push(b"abc");
        c.push(b"defg");
        c.push(b"hi");
        assert_eq!(c.take(), (b"abcde".to_vec(), 4));
        let mut none = Capture::new(0);
        none.push(b"xyz");
        assert_eq!(none.take(), (Vec::new(), 3));
        let mut all = Capture::new(usize::MAX);
        all.push(b"xyz");
        assert_eq!(all.take(), (b"xyz".to_vec(), 0));
    }
}
