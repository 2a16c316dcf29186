//! Parsers and formatters: text captured from real kernels (in `tests/data/`, from the
//! CI host's Linux 6.18 hybrid and the test VM's Linux 6.1), round-trip properties, and
//! the rejection of bad values. No privileges needed.

use std::path::Path;
use std::time::Duration;

use hutch_cgroup::cpu::{CpuMax, CpuStat, CpuWeight, Micros, Nice, Uclamp};
use hutch_cgroup::cpuset::{CpuList, Partition, PartitionState};
use hutch_cgroup::dmem::DmemLimit;
use hutch_cgroup::events::{CgroupEvents, CgroupStat, CgroupType};
use hutch_cgroup::hugetlb::{HugePageSize, HugetlbEvents};
use hutch_cgroup::io::{IoDeviceParams, IoDeviceStat, IoLatency, IoMax, IoStat, IoWeight};
use hutch_cgroup::memory::{MemoryEvents, MemoryStat, NumaStat, SwapEvents};
use hutch_cgroup::misc::MiscLimit;
use hutch_cgroup::pids::{Count, PidsEvents};
use hutch_cgroup::psi::{Pressure, PressureLine};
use hutch_cgroup::rdma::RdmaLimit;
use hutch_cgroup::{Bytes, Controller, DevNum, Hierarchy, Max, Setting};
use proptest::prelude::*;

fn data(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

// ----- captured text ------------------------------------------------------------------

/// A container without a cgroup namespace that got only its own subtree bind-mounted (LXC
/// style): the mount's root field is that subtree, and /proc/self/cgroup paths are mapped
/// below it. A mount of the whole hierarchy is preferred when there are both.
#[test]
fn a_bind_mounted_subtree_maps_proc_cgroup_paths() {
    let mi = "40 30 0:38 /lxc/c1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
    let h = Hierarchy::discover_from(mi).unwrap();
    let p = Path::new("/proc/self/cgroup");
    assert_eq!(
        h.dir_of_proc_cgroup(p, "0::/lxc/c1/app\n").unwrap(),
        Path::new("/app")
    );
    assert_eq!(
        h.dir_of_proc_cgroup(p, "0::/lxc/c1\n").unwrap(),
        Path::new("/")
    );
    let e = h.dir_of_proc_cgroup(p, "0::/elsewhere\n").unwrap_err();
    assert!(
        e.to_string().contains("/elsewhere") && e.to_string().contains("/lxc/c1"),
        "{e}"
    );
    let both = "40 30 0:38 /lxc/c1 /mnt/sub rw - cgroup2 cgroup2 rw\n\
                41 30 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
    let h = Hierarchy::discover_from(both).unwrap();
    assert_eq!(h.root(), Path::new("/sys/fs/cgroup"));
    assert_eq!(
        h.dir_of_proc_cgroup(p, "0::/a/b\n").unwrap(),
        Path::new("/a/b")
    );
}

#[test]
fn mountinfo_of_a_hybrid_host() {
    let mi = data("host-hybrid-mountinfo");
    let h = Hierarchy::discover_from(&mi).unwrap();
    assert_eq!(h.root(), Path::new("/sys/fs/cgroup/unified"));
    use hutch_cgroup::hierarchy::v1_mount_of;
    assert_eq!(
        v1_mount_of(&mi, Controller::Memory).unwrap(),
        Path::new("/sys/fs/cgroup/memory")
    );
    assert_eq!(
        v1_mount_of(&mi, Controller::Io).unwrap(),
        Path::new("/sys/fs/cgroup/blkio")
    );
    assert_eq!(v1_mount_of(&mi, Controller::Hugetlb), None);
    let vm = data("vm-6.1-mountinfo-cgroup-line");
    assert_eq!(
        Hierarchy::discover_from(&vm).unwrap().root(),
        Path::new("/sys/fs/cgroup")
    );
    assert!(Hierarchy::discover_from("22 1 0:21 / /proc rw - proc proc rw\n").is_err());
    // Octal escapes in mount points.
    let esc = "50 1 0:40 / /mnt/my\\040cg rw - cgroup2 none rw\n";
    assert_eq!(
        Hierarchy::discover_from(esc).unwrap().root(),
        Path::new("/mnt/my cg")
    );
}

#[test]
fn proc_cgroup() {
    use hutch_cgroup::hierarchy::parse_proc_cgroup;
    assert_eq!(
        parse_proc_cgroup(&data("host-hybrid-proc-cgroup")).unwrap(),
        Path::new("/")
    );
    assert_eq!(
        parse_proc_cgroup("0::/a/b (deleted)\n").unwrap(),
        Path::new("/a/b")
    );
    let e = parse_proc_cgroup("4:memory:/x\n").unwrap_err();
    assert!(e.to_string().contains("no `0::` line"), "{e}");
}

#[test]
fn memory_stat_6_1() {
    let text = data("vm-6.1-memory.stat");
    let s: MemoryStat = text.parse().unwrap();
    assert_eq!(s.file(), Some(Bytes(8478720)));
    assert_eq!(s.shmem(), Some(Bytes(8388608)));
    assert_eq!(s.anon(), Some(Bytes(0)));
    assert_eq!(s.pgfault(), Some(422));
    assert_eq!(s.get("thp_collapse_alloc"), Some(0));
    assert_eq!(s.iter().count(), text.lines().count());
    assert_eq!(s.to_string(), text, "exact round trip");
}

#[test]
fn numa_stat_6_1() {
    let text = data("vm-6.1-memory.numa_stat");
    let s: NumaStat = text.parse().unwrap();
    assert_eq!(s.get("file").unwrap(), &[(0, 8478720)]);
    assert_eq!(s.to_string(), text);
    assert!("anon X0=1\n".parse::<NumaStat>().is_err());
    assert!("anon N0=-1\n".parse::<NumaStat>().is_err());
}

#[test]
fn cpu_stat_6_1_and_6_18() {
    let text = data("vm-6.1-cpu.stat");
    let s: CpuStat = text.parse().unwrap();
    assert_eq!(s.usage, Duration::from_micros(352055));
    assert_eq!(s.nr_periods, Some(2));
    assert_eq!(s.throttled, Some(Duration::ZERO));
    assert_eq!(s.to_string(), text);
    let host: CpuStat = data("host-6.18-cpu.stat").parse().unwrap();
    assert_eq!(host.user, Duration::from_micros(100347655));
    assert_eq!(host.nr_periods, None);
    assert_eq!(host.other, [("nice_usec".to_owned(), 0)]);
    assert_eq!(host.to_string(), data("host-6.18-cpu.stat"));
    let e = "user_usec 1\nsystem_usec 1\n"
        .parse::<CpuStat>()
        .unwrap_err();
    assert!(e.to_string().contains("usage_usec"), "{e}");
}

#[test]
fn pressure_files() {
    let p: Pressure = data("host-6.18-cpu.pressure").parse().unwrap();
    let some = p.some.unwrap();
    assert_eq!(some.avg10, 14.36);
    assert_eq!(some.avg300, 3.42);
    assert_eq!(some.total, Duration::from_micros(16364272));
    assert_eq!(p.full.unwrap().total, Duration::ZERO);
    assert_eq!(p.to_string(), data("host-6.18-cpu.pressure"));
    let v: Pressure = data("vm-6.1-cpu.pressure").parse().unwrap();
    assert_eq!(v.to_string(), data("vm-6.1-cpu.pressure"));
    // Before 5.13 cpu.pressure had no `full` line.
    let old: Pressure = "some avg10=1.00 avg60=0.50 avg300=0.10 total=42\n"
        .parse()
        .unwrap();
    assert_eq!(old.full, None);
    // irq.pressure has only a `full` line.
    let irq: Pressure = "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
        .parse()
        .unwrap();
    assert_eq!(irq.some, None);
    assert!(irq.full.is_some());
    for bad in [
        "",
        "some avg10=0.00 avg60=0.00 total=0\n",
        "some avg10=-1.00 avg60=0.00 avg300=0.00 total=0\n",
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=x\n",
        "half avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
    ] {
        assert!(bad.parse::<Pressure>().is_err(), "{bad:?}");
    }
}

#[test]
fn events_files() {
    let e: MemoryEvents = data("vm-6.1-memory.events").parse().unwrap();
    assert_eq!(e, MemoryEvents::default());
    assert_eq!(e.to_string(), data("vm-6.1-memory.events"));
    let e: MemoryEvents =
        "low 1\nhigh 2\nmax 3\noom 4\noom_kill 5\noom_group_kill 6\nsock_throttled 7\n"
            .parse()
            .unwrap();
    assert_eq!(
        (e.low, e.high, e.max, e.oom, e.oom_kill, e.oom_group_kill),
        (1, 2, 3, 4, 5, 6)
    );
    assert_eq!(e.other, [("sock_throttled".to_owned(), 7)]);
    let s: SwapEvents = data("vm-6.1-memory.swap.events").parse().unwrap();
    assert_eq!(s.to_string(), data("vm-6.1-memory.swap.events"));
    let c: CgroupEvents = data("vm-6.1-cgroup.events").parse().unwrap();
    assert_eq!(c, CgroupEvents::new(true, false));
    assert!("frozen 1\n".parse::<CgroupEvents>().is_err());
    assert!("populated 2\nfrozen 0\n".parse::<CgroupEvents>().is_err());
    assert!("max x\n".parse::<PidsEvents>().is_err());
    assert!("max 1 2\n".parse::<MemoryEvents>().is_err());
    let p: PidsEvents = "max 3\nmax.imposed 1\n".parse().unwrap();
    assert_eq!((p.max, p.other.len()), (3, 1));
    let h: HugetlbEvents = "max 9\n".parse().unwrap();
    assert_eq!(h.max, 9);
}

#[test]
fn cgroup_stat_and_type() {
    let s: CgroupStat = data("host-6.18-cgroup.stat").parse().unwrap();
    assert_eq!((s.nr_descendants, s.nr_dying_descendants), (0, 0));
    assert_eq!(s.other.len(), 4);
    assert_eq!(s.to_string().parse::<CgroupStat>().unwrap(), s);
    for t in ["domain", "domain threaded", "domain invalid", "threaded"] {
        assert_eq!(t.parse::<CgroupType>().unwrap().to_string(), t);
    }
    assert!("threads".parse::<CgroupType>().is_err());
}

#[test]
fn io_files_6_1() {
    let m: IoMax = data("vm-6.1-io.max").trim().parse().unwrap();
    assert_eq!(
        m,
        IoMax {
            device: DevNum::new(7, 0),
            rbps: Some(2097152),
            wbps: None,
            riops: None,
            wiops: Some(120)
        }
    );
    assert_eq!(m.to_string(), data("vm-6.1-io.max").trim());
    let st: IoStat = data("vm-6.1-io.stat").parse().unwrap();
    assert_eq!(st.devices.len(), 9);
    let loop0 = st.device(DevNum::new(7, 0)).unwrap();
    assert_eq!(
        (loop0.rbytes, loop0.wbytes, loop0.rios, loop0.wios),
        (20480, 40960, 5, 10)
    );
    // Idle devices are listed with no counters.
    assert_eq!(st.device(DevNum::new(7, 7)).unwrap().rbytes, 0);
    let qos: IoDeviceParams = data("vm-6.1-io.cost.qos").trim().parse().unwrap();
    assert_eq!(qos.get("ctrl"), Some("auto"));
    assert_eq!(qos.get("max"), Some("10000.00"));
    assert_eq!(qos.to_string(), data("vm-6.1-io.cost.qos").trim());
    let model: IoDeviceParams = data("vm-6.1-io.cost.model").trim().parse().unwrap();
    assert_eq!(model.get("model"), Some("linear"));
    assert_eq!(model.to_string(), data("vm-6.1-io.cost.model").trim());
    let lat: IoLatency = "8:16 target=75".parse().unwrap();
    assert_eq!(lat.target, Some(Duration::from_micros(75)));
    assert_eq!(lat.to_string(), "8:16 target=75");
    let w: IoWeight = "default 100".parse().unwrap();
    assert_eq!((w.device, w.weight.get()), (None, 100));
    let w: IoWeight = "8:16 200".parse().unwrap();
    assert_eq!(w.to_string(), "8:16 200");
    let extra: IoDeviceStat =
        "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6 cost.vrate=100.00"
            .parse()
            .unwrap();
    assert_eq!(
        extra.other,
        [("cost.vrate".to_owned(), "100.00".to_owned())]
    );
}

#[test]
fn partition_state() {
    let p: PartitionState = data("vm-6.1-cpuset.cpus.partition").parse().unwrap();
    assert_eq!(p.partition, Partition::Root);
    assert_eq!(p.invalid.as_deref(), Some("cpuset.cpus is empty"));
    assert_eq!(p.to_string(), data("vm-6.1-cpuset.cpus.partition").trim());
    let m: PartitionState = "member\n".parse().unwrap();
    assert_eq!((m.partition, m.invalid), (Partition::Member, None));
    assert!("leader".parse::<PartitionState>().is_err());
}

// ----- typed values and bad input -----------------------------------------------------

#[test]
fn cpu_max_values() {
    assert_eq!("max 100000".parse::<CpuMax>().unwrap(), CpuMax::UNLIMITED);
    assert_eq!("max".parse::<CpuMax>().unwrap(), CpuMax::UNLIMITED);
    let m: CpuMax = "20000 100000".parse().unwrap();
    assert_eq!(m, CpuMax::cores(0.2));
    for bad in [
        "-1 100000",
        "20000 -100000",
        "20000 100000 7",
        "",
        "1.5 100000",
        "max max",
    ] {
        let e = bad.parse::<CpuMax>().unwrap_err();
        assert!(e.to_string().starts_with("invalid cpu.max"), "{bad:?}: {e}");
    }
    let e = "-1 100000".parse::<CpuMax>().unwrap_err();
    assert!(e.reason().contains("negative"), "{e}");
    assert!(
        CpuMax {
            quota: Some(Duration::from_micros(500)),
            period: CpuMax::DEFAULT_PERIOD
        }
        .validate()
        .is_err()
    );
    assert!(
        CpuMax {
            quota: None,
            period: Duration::from_secs(2)
        }
        .validate()
        .is_err()
    );
    assert!(CpuMax::cores(2.0).validate().is_ok());
    let e = Setting::CpuMax(CpuMax::cores(0.001))
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("at least 1000"), "{e}");
}

#[test]
fn weights_nice_uclamp() {
    assert!(CpuWeight::new(0).is_err());
    assert!(CpuWeight::new(10001).is_err());
    assert_eq!("10000".parse::<CpuWeight>().unwrap().get(), 10000);
    let e = "-5".parse::<CpuWeight>().unwrap_err();
    assert!(e.to_string().contains("negative"), "{e}");
    assert!("99999999999".parse::<CpuWeight>().is_err());
    assert_eq!("-20".parse::<Nice>().unwrap().get(), -20);
    assert!("20".parse::<Nice>().is_err());
    assert!(Nice::new(-21).is_err());
    assert_eq!("0.00".parse::<Uclamp>().unwrap(), Uclamp::Percent100ths(0));
    assert_eq!("100".parse::<Uclamp>().unwrap().to_string(), "100.00");
    assert_eq!("7.5".parse::<Uclamp>().unwrap().to_string(), "7.50");
    for bad in ["100.01", "-1", "1.234", "abc", ".5", ""] {
        assert!(bad.parse::<Uclamp>().is_err(), "{bad:?}");
    }
    assert_eq!(
        "250".parse::<Micros>().unwrap(),
        Micros(Duration::from_micros(250))
    );
}

#[test]
fn cpu_lists() {
    let l: CpuList = "0-3,7".parse().unwrap();
    assert_eq!(l.to_string(), "0-3,7");
    assert_eq!(l.len(), 5);
    assert_eq!(l.iter().collect::<Vec<_>>(), [0, 1, 2, 3, 7]);
    assert_eq!(
        "3,1,2,2-2,8-9".parse::<CpuList>().unwrap().to_string(),
        "1-3,8-9"
    );
    assert_eq!("".parse::<CpuList>().unwrap(), CpuList::new());
    assert_eq!("\n".parse::<CpuList>().unwrap().to_string(), "");
    assert_eq!("0-1\n".parse::<CpuList>().unwrap().to_string(), "0-1");
    for bad in ["3-1", "1,,2", "a", "-1", "1-", "0-4294967296", "1 2"] {
        let e = bad.parse::<CpuList>().unwrap_err();
        assert!(e.to_string().starts_with("invalid cpu list"), "{e}");
    }
    assert!(
        "3-1"
            .parse::<CpuList>()
            .unwrap_err()
            .reason()
            .contains("starts after it ends")
    );
}

#[test]
fn device_numbers_and_io_lines() {
    assert_eq!("259:0".parse::<DevNum>().unwrap(), DevNum::new(259, 0));
    for bad in [
        "8",
        "8:",
        ":1",
        "8:-1",
        "a:b",
        "8:1:2",
        "8 :1",
        "99999999999:0",
    ] {
        let e = bad.parse::<DevNum>().unwrap_err();
        assert!(e.to_string().contains("device number"), "{bad}: {e}");
    }
    for bad in [
        "8:16 rbps=-1",
        "8:16 rbps=1 rbps=2",
        "8:16 rbsp=1",
        "8:16 rbps",
        "8-16 rbps=1",
        "",
    ] {
        assert!(bad.parse::<IoMax>().is_err(), "{bad:?}");
    }
    let e = "8:16 rbsp=1".parse::<IoMax>().unwrap_err();
    assert!(e.reason().contains("unknown key `rbsp`"), "{e}");
    // Partial lines (as written by people) leave the other limits at max.
    let m: IoMax = "8:16 wbps=1048576".parse().unwrap();
    assert_eq!(
        m.to_string(),
        "8:16 rbps=max wbps=1048576 riops=max wiops=max"
    );
    assert!("8:16 target=x".parse::<IoLatency>().is_err());
    assert!("8:16 0".parse::<IoWeight>().is_err());
}

#[test]
fn controllers_by_name() {
    for c in Controller::ALL {
        assert_eq!(c.to_string().parse::<Controller>().unwrap(), c);
    }
    let e = "blkio".parse::<Controller>().unwrap_err();
    assert_eq!(e.text(), "blkio");
    assert!(
        e.to_string().contains("unknown cgroup v2 controller"),
        "{e}"
    );
}

#[test]
fn max_bytes_counts_and_misc_lines() {
    assert_eq!("max".parse::<Max<Bytes>>().unwrap(), Max::Max);
    assert_eq!(
        "4096\n".parse::<Max<Bytes>>().unwrap(),
        Max::Value(Bytes::kib(4))
    );
    for bad in ["-1", "1k", "", "maxx", "18446744073709551616"] {
        assert!(bad.parse::<Max<Bytes>>().is_err(), "{bad:?}");
    }
    assert_eq!("5".parse::<Max<Count>>().unwrap(), Max::Value(Count(5)));
    let h: HugePageSize = "2MB".parse().unwrap();
    assert_eq!(h.bytes(), 2 << 20);
    assert_eq!(HugePageSize::from_bytes(64 << 10).to_string(), "64KB");
    assert!("0MB".parse::<HugePageSize>().is_err());
    assert!("2M".parse::<HugePageSize>().is_err());
    let r: RdmaLimit = "mlx4_0 hca_handle=2 hca_object=max".parse().unwrap();
    assert_eq!((r.hca_handle, r.hca_object), (Max::Value(2), Max::Max));
    assert!("mlx4_0 hca_handles=2".parse::<RdmaLimit>().is_err());
    let m: MiscLimit = "sev_es 10".parse().unwrap();
    assert_eq!(m.value, Max::Value(10));
    assert!("sev".parse::<MiscLimit>().is_err());
    let d: DmemLimit = "drm/0000:03:00.0/vram0 max".parse().unwrap();
    assert_eq!(d.to_string(), "drm/0000:03:00.0/vram0 max");
    assert!("drm/x -1".parse::<DmemLimit>().is_err());
    // Settings validate what they can.
    let s = Setting::HugetlbMax(h, Max::Value(Bytes(4096)));
    assert!(
        s.validate()
            .unwrap_err()
            .to_string()
            .contains("multiple of the page size 2MB")
    );
    assert_eq!(Setting::HugetlbMax(h, Max::Max).file(), "hugetlb.2MB.max");
}

// ----- round-trip properties ------------------------------------------------------------

fn key() -> impl Strategy<Value = String> {
    "[a-z][a-z_.]{0,20}"
}

fn opt_u64() -> impl Strategy<Value = Option<u64>> {
    prop::option::of(any::<u64>())
}

fn devnum() -> impl Strategy<Value = DevNum> {
    (any::<u32>(), any::<u32>()).prop_map(|(a, b)| DevNum::new(a, b))
}

fn pressure_line() -> impl Strategy<Value = PressureLine> {
    (
        0u32..=10000,
        0u32..=10000,
        0u32..=10000,
        0u64..u64::MAX / 1000,
    )
        .prop_map(|(a, b, c, t)| PressureLine {
            avg10: f64::from(a) / 100.0,
            avg60: f64::from(b) / 100.0,
            avg300: f64::from(c) / 100.0,
            total: Duration::from_micros(t),
        })
}

#[test]
fn values_the_kernel_rejects_are_caught_before_writing() {
    let dev = DevNum { major: 7, minor: 0 };
    let mut io = IoMax::unlimited(dev);
    io.wbps = Some(0);
    let e = Setting::IoMax(io).validate().unwrap_err();
    assert!(e.to_string().contains("0"), "{e}");
    let lat = IoLatency {
        device: dev,
        target: Some(Duration::from_nanos(500)),
    };
    assert!(Setting::IoLatency(lat).validate().is_err());
    assert!(
        Setting::PidsMax(Max::Value(Count(1 << 22)))
            .validate()
            .is_ok()
    );
    assert!(
        Setting::PidsMax(Max::Value(Count((1 << 22) + 1)))
            .validate()
            .is_err()
    );
    assert!(Setting::MaxDepth(Max::Value(u32::MAX)).validate().is_err());
    assert!(Setting::MaxDescendants(Max::Value(10)).validate().is_ok());
}

proptest! {
    #[test]
    fn cpu_list_roundtrip(ranges in prop::collection::vec((0u32..5000, 0u32..50), 0..20)) {
        let mut l = CpuList::new();
        for (a, n) in ranges { l.insert_range(a, a + n); }
        let text = l.to_string();
        prop_assert_eq!(text.parse::<CpuList>().unwrap(), l.clone());
        let nums: Vec<u32> = l.iter().collect();
        prop_assert_eq!(nums.iter().copied().collect::<CpuList>(), l);
    }

    #[test]
    fn cpu_list_never_panics(s in "[0-9,\\- ]{0,30}") {
        let _ = s.parse::<CpuList>();
    }

    #[test]
    fn cpu_max_roundtrip(q in prop::option::of(0u64..1u64 << 40), p in 0u64..1u64 << 40) {
        let m = CpuMax { quota: q.map(Duration::from_micros), period: Duration::from_micros(p) };
        prop_assert_eq!(m.to_string().parse::<CpuMax>().unwrap(), m);
    }

    #[test]
    fn io_max_roundtrip(d in devnum(), a in opt_u64(), b in opt_u64(), c in opt_u64(), e in opt_u64()) {
        let m = IoMax { device: d, rbps: a, wbps: b, riops: c, wiops: e };
        prop_assert_eq!(m.to_string().parse::<IoMax>().unwrap(), m);
    }

    #[test]
    fn devnum_roundtrip(d in devnum()) {
        prop_assert_eq!(d.to_string().parse::<DevNum>().unwrap(), d);
    }

    #[test]
    fn io_stat_roundtrip(devs in prop::collection::vec((devnum(), prop::array::uniform6(any::<u64>())), 0..5)) {
        let text: String = devs.iter().map(|(d, v)| format!(
            "{d} rbytes={} wbytes={} rios={} wios={} dbytes={} dios={}\n", v[0], v[1], v[2], v[3], v[4], v[5])).collect();
        let st: IoStat = text.parse().unwrap();
        prop_assert_eq!(st.to_string(), text);
    }

    #[test]
    fn pressure_roundtrip(some in prop::option::of(pressure_line()), full in prop::option::of(pressure_line())) {
        prop_assume!(some.is_some() || full.is_some());
        let p = Pressure::new(some, full);
        prop_assert_eq!(p.to_string().parse::<Pressure>().unwrap(), p);
    }

    #[test]
    fn memory_stat_roundtrip(entries in prop::collection::vec((key(), any::<u64>()), 0..40)) {
        let s: MemoryStat = entries.into_iter().collect();
        prop_assert_eq!(s.to_string().parse::<MemoryStat>().unwrap(), s);
    }

    #[test]
    fn numa_stat_roundtrip(entries in prop::collection::vec((key(), prop::collection::vec((0u32..64, any::<u64>()), 1..4)), 0..10)) {
        let s: NumaStat = entries.into_iter().collect();
        prop_assert_eq!(s.to_string().parse::<NumaStat>().unwrap(), s);
    }

    #[test]
    fn memory_events_roundtrip(v in prop::array::uniform6(any::<u64>()), extra in prop::collection::vec(("x[a-z_]{0,8}", any::<u64>()), 0..3)) {
        let text = format!("low {}\nhigh {}\nmax {}\noom {}\noom_kill {}\noom_group_kill {}\n", v[0], v[1], v[2], v[3], v[4], v[5])
            + &extra.iter().map(|(k, v)| format!("{k} {v}\n")).collect::<String>();
        let e: MemoryEvents = text.parse().unwrap();
        prop_assert_eq!(e.to_string(), text);
    }

    #[test]
    fn cpu_stat_roundtrip(v in prop::array::uniform3(0u64..1 << 50), t in prop::option::of(prop::array::uniform5(0u64..1 << 50))) {
        let mut text = format!("usage_usec {}\nuser_usec {}\nsystem_usec {}\n", v[0], v[1], v[2]);
        if let Some(t) = t {
            text += &format!("nr_periods {}\nnr_throttled {}\nthrottled_usec {}\nnr_bursts {}\nburst_usec {}\n", t[0], t[1], t[2], t[3], t[4]);
        }
        let s: CpuStat = text.parse().unwrap();
        prop_assert_eq!(s.to_string(), text);
    }

    #[test]
    fn cgroup_events_roundtrip(p in any::<bool>(), f in any::<bool>()) {
        let e = CgroupEvents::new(p, f);
        prop_assert_eq!(e.to_string().parse::<CgroupEvents>().unwrap(), e);
    }

    #[test]
    fn max_and_weights_roundtrip(b in prop::option::of(any::<u64>()), w in 1u16..=10000, u in 0u16..=10000) {
        let m = b.map_or(Max::Max, |b| Max::Value(Bytes(b)));
        prop_assert_eq!(m.to_string().parse::<Max<Bytes>>().unwrap(), m);
        let cw = CpuWeight::new(w).unwrap();
        prop_assert_eq!(cw.to_string().parse::<CpuWeight>().unwrap(), cw);
        let uc = Uclamp::Percent100ths(u);
        prop_assert_eq!(uc.to_string().parse::<Uclamp>().unwrap(), uc);
    }

    #[test]
    fn huge_page_size_roundtrip(shift in 10u32..40) {
        let s = HugePageSize::from_bytes(1u64 << shift);
        prop_assert_eq!(s.to_string().parse::<HugePageSize>().unwrap(), s);
    }

    #[test]
    fn io_device_params_roundtrip(d in devnum(), params in prop::collection::vec((key(), "[a-z0-9.]{1,8}"), 0..8)) {
        let p = IoDeviceParams { device: d, params };
        prop_assert_eq!(p.to_string().parse::<IoDeviceParams>().unwrap(), p);
    }
}
