//! Shared clock, process limits and /proc readings, and latency histograms.

use std::sync::Mutex;

use hdrhistogram::Histogram;

/// Microseconds on `CLOCK_MONOTONIC`: one clock for every process of the machine, so a
/// timestamp written into a payload by one loadgen process can be subtracted from the
/// receipt time in another.
pub fn now_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the pointer we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

/// Raises the soft open-file limit to the hard one; returns the new soft limit.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    lim.rlim_cur
}

/// Clock ticks per second of /proc/<pid>/stat times.
pub fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// utime + stime of a process, in seconds (0 if it is gone).
pub fn cpu_seconds(pid: u32) -> f64 {
    // The command name (field 2) may contain spaces: stat_cpu counts fields after its
    // closing ')'; rest starts at field 3 (state); utime is field 14, stime field 15.
    stat_cpu(&format!("/proc/{pid}/stat"))
}

/// utime + stime of every thread of a process, in seconds, by thread id (empty if it is
/// gone).
pub fn thread_cpu_seconds(pid: u32) -> Vec<(u32, f64)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let tid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        Some((tid, stat_cpu(&format!("/proc/{pid}/task/{tid}/stat"))))
    })
    .collect()
}

fn stat_cpu(path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let stime: f64 = fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    (utime + stime) / clk_tck()
}

/// A `Vm…:` line of /proc/<pid>/status in KiB (0 if the process is gone).
fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// VmRSS of a process in KiB (0 if it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// VmHWM of a process in KiB: its peak RSS since it started (0 if it is gone).
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}

/// A fresh latency histogram in microseconds (1 µs .. 1 h, 3 significant digits).
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Histograms sharded by client index so that thousands of tasks can record without
/// contending on one lock.
pub struct Shards(Vec<Mutex<Histogram<u64>>>);

impl Shards {
    pub fn new(n: usize) -> Shards {
        Shards((0..n.max(1)).map(|_| Mutex::new(new_hist())).collect())
    }

    pub fn record(&self, key: usize, micros: u64) {
        let mut h = self.0[key % self.0.len()].lock().unwrap();
        let _ = h.record(micros.clamp(1, 3_600_000_000));
    }

    /// Merges every shard into one histogram and clears them.
    pub fn take(&self) -> Histogram<u64> {
        let mut out = new_hist();
        for shard in &self.0 {
            let mut h = shard.lock().unwrap();
            let _ = out.add(&*h);
            h.reset();
        }
        out
    }
}

/// A histogram as `[[value, count], ...]`, to travel between processes as JSON.
pub fn hist_to_json(h: &Histogram<u64>) -> serde_json::Value {
    let pairs: Vec<serde_json::Value> = h
        .iter_recorded()
        .map(|v| serde_json::json!([v.value_iterated_to(), v.count_at_value()]))
        .collect();
    serde_json::Value::Array(pairs)
}

/// Adds a histogram serialized by [`hist_to_json`] into `into`.
pub fn hist_add_json(into: &mut Histogram<u64>, v: &serde_json::Value) {
    if let Some(pairs) = v.as_array() {
        for p in pairs {
            if let (Some(value), Some(count)) = (p[0].as_u64(), p[1].as_u64()) {
                let _ = into.record_n(value.max(1), count);
            }
        }
    }
}
