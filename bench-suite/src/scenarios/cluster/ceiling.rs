//! The raw Redis ceiling on this machine: `redis-benchmark` against the scenario's own
//! server, one client connection per benchmark client, unpipelined and with `-P 16`.
//! Every Redis queue shares this limit, so the scenario also shows its rates as a
//! fraction of it.

use std::process::{Command, Stdio};

/// `(unpipelined, pipelined -P 16)` ops/s of `SET` and `INCR` (the mean of the two),
/// with `clients` connections and `n` requests per test.
pub fn measure(port: u16, n: u64, clients: u32) -> Result<(f64, f64), String> {
    let run = |pipeline: u32| -> Result<f64, String> {
        let out = Command::new("redis-benchmark")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "set,incr", "--csv"])
            .args(["-n", &n.to_string(), "-c", &clients.to_string(), "-P", &pipeline.to_string()])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| format!("redis-benchmark: {e}"))?;
        let rates = parse_csv(&String::from_utf8_lossy(&out.stdout));
        if rates.is_empty() {
            return Err(format!("redis-benchmark printed no rates ({})", out.status));
        }
        Ok(rates.iter().sum::<f64>() / rates.len() as f64)
    };
    Ok((run(1)?, run(16)?))
}

/// The requests/s column of `redis-benchmark --csv` (`"SET","123456.78",...`).
pub fn parse_csv(text: &str) -> Vec<f64> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(',').map(|c| c.trim_matches('"'));
            let (_name, rps) = (f.next()?, f.next()?);
            rps.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_redis_benchmark_csv() {
        let text = "\"test\",\"rps\",\"avg_latency_ms\"\n\"SET\",\"100000.00\",\"0.3\"\n\"INCR\",\"120000.50\",\"0.2\"\n";
        assert_eq!(super::parse_csv(text), vec![100000.0, 120000.5]);
    }
}
