//! Tests that need every cgroup v2 controller: run inside the throw-away VM
//! (`scripts/vm-tests.sh`, feature `vm-tests`), as root, each in its own
//! `hutch-test-<pid>-<n>-<tag>` cgroup under the VM's `/sys/fs/cgroup`.
//!
//! TCG emulation is slow and noisy: ratios are loose and timeouts generous.

mod common;

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Helper, Proc, TestCgroup};
use hutch_cgroup::cpu::{CpuMax, CpuWeight, Micros, Nice};
use hutch_cgroup::cpuset::{CpuList, Partition};
use hutch_cgroup::hugetlb::HugePageSize;
use hutch_cgroup::io::{IoMax, IoWeight};
use hutch_cgroup::pids::Count;
use hutch_cgroup::{Bytes, Cgroup, CgroupError, Controller, DevNum, Max, Pid, Resources, Setting};

const T: Duration = Duration::from_secs(60);

/// A parent with `controllers` enabled for its children, and one child.
fn parent_and_child(tag: &str, controllers: &[Controller]) -> (TestCgroup, Cgroup) {
    let p = TestCgroup::new(tag);
    p.ensure_controllers(controllers).unwrap();
    let c = p.create_child("c").unwrap();
    (p, c)
}

/// `sh -c '<script>'` started inside `cg` (it moves itself before running the script).
fn sh_in(cg: &Cgroup, script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "echo $$ > '{}/cgroup.procs' && {script}",
        cg.path().display()
    ));
    cmd
}

/// The helper process (this binary), which moves itself into `cg` first.
fn helper_in(cg: &Cgroup, role: &str, arg: &str) -> Helper {
    let path = cg.path().to_owned();
    let arg = arg.to_owned();
    Helper::spawn(role, move |c| {
        c.env("HUTCH_CG", path).env("HUTCH_ARG", arg);
    })
}

#[test]
fn memory_limit_oom_kills_and_events_count_it() {
    let (p, c) = parent_and_child("oom", &[Controller::Memory]);
    c.memory().set_max(Bytes::mib(32)).unwrap();
    c.memory().set_swap_max(Bytes(0)).unwrap();
    assert_eq!(c.memory().max().unwrap(), Max::Value(Bytes::mib(32)));
    let mut h = helper_in(&c, "alloc", "100");
    assert_eq!(
        h.proc.wait_signal(),
        Some(libc::SIGKILL),
        "the OOM killer ends it"
    );
    let ev = c.memory().events().unwrap();
    assert!(ev.oom_kill >= 1 && ev.max >= 1, "{ev:?}");
    assert!(
        p.memory().events().unwrap().oom_kill >= 1,
        "hierarchical in the parent"
    );
    let peak = c.memory().peak().unwrap();
    assert!(
        peak <= Bytes::mib(32) && peak >= Bytes::mib(24),
        "peak {peak:?}"
    );
    drop(c);
    p.finish();
}

#[test]
fn oom_group_kills_every_process() {
    let (p, c) = parent_and_child("oomgroup", &[Controller::Memory]);
    c.memory().set_max(Bytes::mib(32)).unwrap();
    c.memory().set_swap_max(Bytes(0)).unwrap();
    c.memory().set_oom_group(true).unwrap();
    assert!(c.memory().oom_group().unwrap());
    let mut sleepers: Vec<Proc> = (0..2).map(|_| Proc::sleep()).collect();
    for s in &sleepers {
        c.add_process(s.pid()).unwrap();
    }
    let mut h = helper_in(&c, "alloc", "100");
    assert_eq!(h.proc.wait_signal(), Some(libc::SIGKILL));
    for s in &mut sleepers {
        assert_eq!(
            s.wait_signal(),
            Some(libc::SIGKILL),
            "oom.group kills the bystanders too"
        );
    }
    let ev = c.memory().events().unwrap();
    assert!(ev.oom_group_kill >= 1 && ev.oom_kill >= 1, "{ev:?}");
    c.wait_unpopulated(T).unwrap();
    drop(c);
    p.finish();
}

#[test]
fn pids_limit_makes_fork_fail_with_eagain() {
    let (p, c) = parent_and_child("pids", &[Controller::Pids]);
    c.pids().set_max(Count(5)).unwrap();
    assert_eq!(c.pids().max().unwrap(), Max::Value(Count(5)));
    let mut h = helper_in(&c, "fork", "");
    let tasks: u64 = h.line("tasks ").parse().unwrap();
    let forked: u64 = h.line("forked ").parse().unwrap();
    let errno: i32 = h.line("errno ").parse().unwrap();
    assert_eq!(errno, libc::EAGAIN);
    assert_eq!(
        tasks + forked,
        5,
        "tasks {tasks} + forked {forked} fill pids.max"
    );
    assert_eq!(c.pids().current().unwrap(), Count(5));
    assert!(c.pids().events().unwrap().max >= 1);
    if let Ok(peak) = c.pids().peak() {
        assert_eq!(peak, Count(5));
    }
    let st = c.stats().unwrap();
    assert_eq!(st.pids.as_ref().unwrap().current, Count(5));
    h.send("done");
    drop(c);
    p.finish();
}

#[test]
fn cpu_max_of_a_fifth_holds_a_busy_loop() {
    let (p, c) = parent_and_child("cpumax", &[Controller::Cpu]);
    c.cpu().set_max(CpuMax::cores(0.2)).unwrap();
    assert_eq!(c.cpu().max().unwrap().to_string(), "20000 100000");
    let _busy = Proc::spawn(&mut sh_in(&c, "while :; do :; done"));
    assert!(common::eventually(T, || c.procs().unwrap().len() == 1));
    let u0 = c.cpu().stat().unwrap().usage;
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let used = c.cpu().stat().unwrap().usage - u0;
    let share = used.as_secs_f64() / t0.elapsed().as_secs_f64();
    println!("cpu.max 0.2: busy loop got {share:.3} of a CPU");
    assert!((0.05..=0.45).contains(&share), "share {share}");
    let st = c.cpu().stat().unwrap();
    assert!(
        st.nr_throttled.unwrap() > 0 && st.throttled.unwrap() > Duration::ZERO,
        "{st:?}"
    );
    drop(c);
    p.finish();
}

#[test]
fn cpu_knobs_round_trip() {
    let (p, c) = parent_and_child("cpuknobs", &[Controller::Cpu]);
    let cpu = c.cpu();
    cpu.set_weight(CpuWeight::new(250).unwrap()).unwrap();
    assert_eq!(cpu.weight().unwrap().get(), 250);
    cpu.set_weight_nice(Nice::new(5).unwrap()).unwrap();
    assert_eq!(cpu.weight_nice().unwrap().get(), 5);
    cpu.set_idle(true).unwrap();
    assert!(cpu.idle().unwrap());
    cpu.set_idle(false).unwrap();
    cpu.set_max(CpuMax::cores(0.5)).unwrap();
    cpu.set_max_burst(Micros(Duration::from_millis(10)))
        .unwrap();
    assert_eq!(cpu.max_burst().unwrap(), Micros(Duration::from_millis(10)));
    // A value the kernel would refuse is refused before writing, naming the file.
    let err = cpu
        .set_max(CpuMax {
            quota: Some(Duration::from_micros(10)),
            period: CpuMax::DEFAULT_PERIOD,
        })
        .unwrap_err();
    assert!(
        matches!(&err, CgroupError::InvalidValue { file, .. } if file == "cpu.max"),
        "{err:?}"
    );
    // A value the kernel refuses keeps its errno: burst larger than the quota.
    let err = cpu
        .set_max_burst(Micros(Duration::from_secs(5)))
        .unwrap_err();
    match &err {
        CgroupError::Write {
            file,
            value,
            source,
            ..
        } => {
            assert_eq!(
                (file.as_str(), value.as_str()),
                ("cpu.max.burst", "5000000")
            );
            assert_eq!(source.raw_os_error(), Some(libc::EINVAL));
        }
        e => panic!("{e:?}"),
    }
    drop(c);
    p.finish();
}

#[test]
fn cpuset_pins_to_one_cpu() {
    let (p, c) = parent_and_child("cpuset", &[Controller::Cpuset]);
    let one: CpuList = "1".parse().unwrap();
    c.cpuset().set_cpus(one.clone()).unwrap();
    c.cpuset()
        .set_mems("0".parse::<CpuList>().unwrap())
        .unwrap();
    assert_eq!(c.cpuset().cpus().unwrap(), one);
    assert_eq!(c.cpuset().cpus_effective().unwrap(), one);
    assert_eq!(c.cpuset().mems_effective().unwrap().to_string(), "0");
    let s = Proc::sleep();
    c.add_process(s.pid()).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).unwrap();
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap();
    assert_eq!(allowed.trim().parse::<CpuList>().unwrap(), one);
    // Partition files parse whatever the kernel says about validity.
    c.cpuset().set_partition(Partition::Root).unwrap();
    let st = c.cpuset().partition().unwrap();
    assert_eq!(st.partition, Partition::Root, "{st}");
    c.cpuset().set_partition(Partition::Member).unwrap();
    // A CPU that does not exist is refused by the kernel with the errno kept.
    let err = c
        .cpuset()
        .set_cpus("64".parse::<CpuList>().unwrap())
        .unwrap_err();
    assert!(
        matches!(&err, CgroupError::Write { value, .. } if value == "64"),
        "{err:?}"
    );
    drop((c, s));
    p.finish();
}

/// A loop device over a file in /tmp; detached on drop.
struct Loop {
    dev: String,
    num: DevNum,
}

impl Loop {
    fn new() -> Loop {
        let img = format!("/tmp/hutch-loop-{}", std::process::id());
        let f = std::fs::File::create(&img).unwrap();
        f.set_len(64 << 20).unwrap();
        let out = Command::new("losetup")
            .args(["-f", "--show", &img])
            .output()
            .expect("losetup (util-linux)");
        assert!(
            out.status.success(),
            "losetup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dev = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        use std::os::unix::fs::MetadataExt;
        let num = DevNum::from_dev_t(std::fs::metadata(&dev).unwrap().rdev());
        Loop { dev, num }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

fn timed_write(cg: &Cgroup, dev: &str) -> Duration {
    let t0 = Instant::now();
    let st = sh_in(
        cg,
        &format!("exec dd if=/dev/zero of={dev} bs=64k count=32 oflag=direct 2>/dev/null"),
    )
    .status()
    .unwrap();
    assert!(st.success());
    t0.elapsed()
}

#[test]
fn io_max_slows_writes_to_a_loop_device() {
    let lo = Loop::new();
    let (p, c) = parent_and_child("io", &[Controller::Io]);
    let free = timed_write(&c, &lo.dev);
    let limit = IoMax {
        wbps: Some(1 << 20),
        ..IoMax::unlimited(lo.num)
    };
    c.io().set_max(limit).unwrap();
    assert_eq!(c.io().max().unwrap(), vec![limit]);
    let limited = timed_write(&c, &lo.dev);
    println!("2 MiB direct write: {free:?} unlimited, {limited:?} at 1 MiB/s");
    assert!(limited >= Duration::from_millis(1000), "{limited:?}");
    assert!(limited > free, "{limited:?} vs {free:?}");
    let st = c.io().stat().unwrap();
    assert!(st.device(lo.num).unwrap().wbytes >= 4 << 20, "{st}");
    assert!(c.stats().unwrap().io.unwrap().device(lo.num).is_some());
    // io.weight default line.
    c.io()
        .set_weight(IoWeight {
            device: None,
            weight: CpuWeight::new(300).unwrap(),
        })
        .unwrap();
    assert!(
        c.io()
            .weight()
            .unwrap()
            .iter()
            .any(|w| w.device.is_none() && w.weight.get() == 300)
    );
    // The cost model lives on the root: enable it for the loop device, read it back, and
    // switch it off again.
    let root = common::hierarchy().open_root().unwrap();
    let line = |s: &str| s.parse::<hutch_cgroup::io::IoDeviceParams>().unwrap();
    root.io()
        .set_cost_qos(&line(&format!("{} enable=1", lo.num)))
        .unwrap();
    let qos = root.io().cost_qos().unwrap();
    let mine = qos.iter().find(|l| l.device == lo.num).unwrap();
    assert_eq!(mine.get("enable"), Some("1"), "{mine}");
    let model = root.io().cost_model().unwrap();
    assert!(
        model
            .iter()
            .any(|l| l.device == lo.num && l.get("model") == Some("linear"))
    );
    root.io()
        .set_cost_qos(&line(&format!("{} enable=0", lo.num)))
        .unwrap();
    // Removing the limit.
    c.io().set_max(IoMax::unlimited(lo.num)).unwrap();
    assert!(c.io().max().unwrap().is_empty());
    // A device number that is no block device.
    let err = c
        .io()
        .set_max(IoMax {
            rbps: Some(1),
            ..IoMax::unlimited(DevNum::new(4095, 4095))
        })
        .unwrap_err();
    assert!(
        matches!(&err, CgroupError::Write { file, .. } if file == "io.max"),
        "{err:?}"
    );
    drop(c);
    p.finish();
}

fn read_count(path: &str) -> u64 {
    loop {
        if let Ok(t) = std::fs::read_to_string(path)
            && let Ok(n) = t.trim().parse()
        {
            return n;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn freeze_stops_a_counting_process_and_thaw_resumes_it() {
    let p = TestCgroup::new("freeze");
    let file = format!("/tmp/hutch-count-{}", std::process::id());
    let _counter = Proc::spawn(&mut sh_in(
        &p,
        &format!("i=0; while :; do i=$((i+1)); echo $i > {file}.t; mv {file}.t {file}; done"),
    ));
    let c0 = read_count(&file);
    assert!(
        common::eventually(T, || read_count(&file) > c0 + 5),
        "it counts"
    );
    p.freeze(T).unwrap();
    assert!(p.events().unwrap().frozen);
    let f0 = read_count(&file);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(read_count(&file), f0, "frozen: no progress");
    p.thaw(T).unwrap();
    assert!(
        common::eventually(T, || read_count(&file) > f0 + 5),
        "thawed: counts again"
    );
    p.finish();
    let _ = std::fs::remove_file(&file);
}

#[test]
fn memory_peak_and_stats_are_right() {
    let (p, c) = parent_and_child(
        "peak",
        &[Controller::Memory, Controller::Pids, Controller::Io],
    );
    c.memory().set_max(Bytes::mib(256)).unwrap();
    let mut h = helper_in(&c, "alloc", "48");
    assert_eq!(h.line("allocated "), "48");
    let st = c.stats().unwrap();
    let mem = st.memory.as_ref().unwrap();
    assert!(mem.current >= Bytes::mib(48), "{mem:?}");
    assert!(
        mem.stat.anon().unwrap() >= Bytes::mib(48),
        "{:?}",
        mem.stat.anon()
    );
    assert_eq!(mem.max, Max::Value(Bytes::mib(256)));
    assert!(st.pids.is_some() && st.io.is_some());
    assert!(st.pressure.memory.is_some());
    h.send("exit");
    assert_eq!(h.proc.child.wait().unwrap().code(), Some(0));
    let peak = c.memory().peak().unwrap();
    assert!(peak >= Bytes::mib(48) && peak < Bytes::mib(256), "{peak:?}");
    assert!(
        c.memory().current().unwrap() < Bytes::mib(48),
        "freed at exit"
    );
    // memory.reclaim: everything here is tmpfs/anon without swap, so the kernel may find
    // nothing to reclaim; it then answers EAGAIN, which must come back with the file name.
    match c.memory().reclaim(Bytes::mib(1)) {
        Ok(()) => {}
        Err(CgroupError::Write { file, source, .. }) => {
            assert_eq!(file, "memory.reclaim");
            assert_eq!(source.raw_os_error(), Some(libc::EAGAIN));
        }
        Err(e) => panic!("{e:?}"),
    }
    let numa = c.memory().numa_stat().unwrap();
    assert!(numa.get("anon").is_some());
    // Resettable peaks arrived in 6.12; before that the write is refused, and the error says
    // which file.
    match c.memory().reset_peak() {
        Ok(w) => assert!(w.peak().unwrap() < Bytes::mib(48)),
        Err(CgroupError::Write { file, .. }) => assert_eq!(file, "memory.peak"),
        Err(e) => panic!("{e:?}"),
    }
    drop(c);
    p.finish();
}

#[test]
fn no_internal_processes_is_explained_and_solved_by_a_leaf() {
    let p = TestCgroup::new("internal");
    let s = Proc::sleep();
    p.add_process(s.pid()).unwrap();
    let err = p.ensure_controllers(&[Controller::Memory]).unwrap_err();
    match &err {
        CgroupError::InternalProcesses {
            processes, source, ..
        } => {
            assert_eq!(*processes, 1);
            assert_eq!(source.raw_os_error(), Some(libc::EBUSY));
        }
        e => panic!("{e:?}"),
    }
    assert!(err.to_string().contains("no internal processes"), "{err}");
    let leaf = p.move_all_into_leaf("init").unwrap();
    p.ensure_controllers(&[Controller::Memory]).unwrap();
    assert_eq!(p.subtree_control().unwrap(), [Controller::Memory]);
    assert_eq!(leaf.procs().unwrap(), [s.pid()]);
    // Moving a process into a cgroup that distributes controllers is refused (EBUSY).
    let err = p.add_process(s.pid()).unwrap_err();
    assert!(
        matches!(&err, CgroupError::Move { source, .. } if source.raw_os_error() == Some(libc::EBUSY)),
        "{err:?}"
    );
    drop((leaf, s));
    p.finish();
}

#[test]
fn a_controller_not_passed_down_names_the_ancestor() {
    let p = TestCgroup::new("notpassed");
    let c = p.create_child("c").unwrap();
    let err = c.ensure_controllers(&[Controller::Memory]).unwrap_err();
    match &err {
        CgroupError::ControllerUnavailable {
            controller: Controller::Memory,
            reason: hutch_cgroup::Unavailable::NotEnabledAbove { ancestor },
            ..
        } => assert_eq!(ancestor, p.path()),
        e => panic!("{e:?}"),
    }
    assert!(
        err.to_string()
            .contains("not enabled in the cgroup.subtree_control"),
        "{err}"
    );
    p.ensure_controllers(&[Controller::Memory]).unwrap();
    c.ensure_controllers(&[Controller::Memory]).unwrap();
    assert_eq!(c.subtree_control().unwrap(), [Controller::Memory]);
    c.disable_controllers(&[Controller::Memory]).unwrap();
    assert!(c.subtree_control().unwrap().is_empty());
    drop(c);
    p.finish();
}

#[test]
fn resources_apply_and_read_back() {
    let p = TestCgroup::new("resources");
    let mut r = Resources::default();
    r.cpu_max = Some(CpuMax::cores(1.5));
    r.cpu_weight = Some(CpuWeight::new(50).unwrap());
    r.cpuset_cpus = Some("0".parse().unwrap());
    r.cpuset_mems = Some("0".parse().unwrap());
    r.memory_max = Some(Max::Value(Bytes::mib(128)));
    r.memory_high = Some(Max::Value(Bytes::mib(100)));
    r.memory_low = Some(Max::Value(Bytes::mib(8)));
    r.memory_min = Some(Max::Value(Bytes::mib(4)));
    r.memory_swap_max = Some(Max::Value(Bytes(0)));
    r.memory_oom_group = Some(true);
    r.pids_max = Some(Max::Value(Count(32)));
    r.io_weight = vec![IoWeight {
        device: None,
        weight: CpuWeight::new(200).unwrap(),
    }];
    r.hugetlb_max = vec![(HugePageSize::from_bytes(2 << 20), Max::Value(Bytes::mib(4)))];
    r.extra = vec![
        Setting::MemorySwapHigh(Max::Max),
        Setting::MaxDescendants(Max::Value(3)),
    ];
    let need = r.required_controllers();
    assert_eq!(
        need,
        [
            Controller::Cpu,
            Controller::Cpuset,
            Controller::Memory,
            Controller::Io,
            Controller::Pids,
            Controller::Hugetlb
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    p.ensure_controllers(&need).unwrap();
    let c = p.create_child("c").unwrap();
    r.apply(&c).unwrap();
    assert_eq!(c.cpu().max().unwrap(), CpuMax::cores(1.5));
    assert_eq!(c.cpu().weight().unwrap().get(), 50);
    assert_eq!(c.cpuset().cpus().unwrap().to_string(), "0");
    assert_eq!(c.memory().max().unwrap(), Max::Value(Bytes::mib(128)));
    assert_eq!(c.memory().high().unwrap(), Max::Value(Bytes::mib(100)));
    assert_eq!(c.memory().low().unwrap(), Max::Value(Bytes::mib(8)));
    assert_eq!(c.memory().min().unwrap(), Max::Value(Bytes::mib(4)));
    assert_eq!(c.memory().swap_max().unwrap(), Max::Value(Bytes(0)));
    assert!(c.memory().oom_group().unwrap());
    assert_eq!(c.pids().max().unwrap(), Max::Value(Count(32)));
    let size = HugePageSize::from_bytes(2 << 20);
    assert!(c.hugetlb().sizes().unwrap().contains(&size));
    assert_eq!(c.hugetlb().max(size).unwrap(), Max::Value(Bytes::mib(4)));
    assert_eq!(c.hugetlb().current(size).unwrap(), Bytes(0));
    assert_eq!(c.hugetlb().events(size).unwrap().max, 0);
    assert_eq!(c.max_descendants().unwrap(), Max::Value(3));
    // An invalid setting is refused before anything is written for it.
    let mut bad = Resources::default();
    bad.hugetlb_max = vec![(size, Max::Value(Bytes(4096)))];
    let err = bad.apply(&c).unwrap_err();
    assert!(
        matches!(&err, CgroupError::InvalidValue { file, .. } if file == "hugetlb.2MB.max"),
        "{err:?}"
    );
    assert_eq!(c.hugetlb().max(size).unwrap(), Max::Value(Bytes::mib(4)));
    drop(c);
    p.finish();
}

#[test]
fn rdma_and_misc_files_parse() {
    let (p, c) = parent_and_child("rdmamisc", &[Controller::Rdma, Controller::Misc]);
    assert!(c.rdma().max().unwrap().is_empty());
    assert!(c.rdma().current().unwrap().is_empty());
    assert!(c.misc().max().unwrap().is_empty());
    assert!(c.misc().current().unwrap().is_empty());
    let root = common::hierarchy().open_root().unwrap();
    let _ = root.misc().capacity().unwrap();
    let err = c
        .rdma()
        .set_max(hutch_cgroup::rdma::RdmaLimit {
            device: "nosuchdev".into(),
            hca_handle: Max::Value(1),
            hca_object: Max::Max,
        })
        .unwrap_err();
    assert!(
        matches!(&err, CgroupError::Write { file, .. } if file == "rdma.max"),
        "{err:?}"
    );
    drop(c);
    p.finish();
}

#[test]
fn delegation_works_for_an_unprivileged_user() {
    use std::os::unix::fs::MetadataExt;
    let p = TestCgroup::new("delegate");
    p.delegate(65534, 65534).unwrap();
    let path = p.path().to_owned();
    let mut h = Helper::spawn("delegated", |c| {
        c.env("HUTCH_CG", &path).uid(65534).gid(65534);
    });
    let pid: i32 = h.line("pid ").parse().unwrap();
    p.add_process(Pid::from_raw(pid).unwrap()).unwrap();
    h.send("go");
    assert_eq!(h.line("result "), "ok");
    let job = p.open_child("job").unwrap();
    assert_eq!(std::fs::metadata(job.path()).unwrap().uid(), 65534);
    assert_eq!(job.memory().max().unwrap(), Max::Value(Bytes::mib(64)));
    assert_eq!(job.pids().max().unwrap(), Max::Value(Count(16)));
    assert_eq!(job.procs().unwrap(), [Pid::from_raw(pid).unwrap()]);
    h.send("exit");
    assert_eq!(h.proc.child.wait().unwrap().code(), Some(0));
    drop(job);
    p.finish();
}

/// The helper process the tests above start (`HUTCH_HELPER`); run as an ordinary test, it
/// checks the helper protocol itself.
#[test]
fn helper_process() {
    let Some(role) = common::helper_role_or_self_test() else {
        return;
    };
    let cg = || Cgroup::open(std::env::var_os("HUTCH_CG").expect("HUTCH_CG")).unwrap();
    let arg = std::env::var("HUTCH_ARG").unwrap_or_default();
    match role.as_str() {
        "alloc" => {
            cg().add_process(Pid::this()).unwrap();
            let mib: usize = arg.parse().unwrap();
            let mut v: Vec<u8> = Vec::with_capacity(mib << 20);
            for i in 0..(mib << 20) / 4096 {
                v.extend(std::iter::repeat_n((i % 251) as u8 + 1, 4096));
            }
            println!("allocated {mib}");
            common::helper_wait_line();
            std::hint::black_box(&v);
        }
        "fork" => {
            cg().add_process(Pid::this()).unwrap();
            let tasks = std::fs::read_dir("/proc/self/task").unwrap().count();
            let mut kids = Vec::new();
            let errno = loop {
                // SAFETY: the child only calls async-signal-safe pause/_exit.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    loop {
                        // SAFETY: pause has no preconditions.
                        unsafe { libc::pause() };
                    }
                }
                if pid < 0 {
                    break std::io::Error::last_os_error().raw_os_error().unwrap();
                }
                kids.push(pid);
                if kids.len() > 64 {
                    break 0;
                }
            };
            println!("tasks {tasks}");
            println!("forked {}", kids.len());
            println!("errno {errno}");
            common::helper_wait_line();
            for k in kids {
                // SAFETY: kill/waitpid on our own children.
                unsafe {
                    libc::kill(k, libc::SIGKILL);
                    libc::waitpid(k, std::ptr::null_mut(), 0);
                }
            }
        }
        "delegated" => {
            println!("pid {}", Pid::this());
            assert_eq!(common::helper_wait_line().as_deref(), Some("go"));
            let result = (|| -> Result<(), CgroupError> {
                let p = cg();
                // We start in the delegated cgroup itself: make room for controllers.
                p.move_self_into_leaf("init")?;
                p.ensure_controllers(&[Controller::Memory, Controller::Pids])?;
                let job = p.create_child("job")?;
                job.memory().set_max(Bytes::mib(64))?;
                job.pids().set_max(Count(16))?;
                job.add_process(Pid::this())?;
                // The delegated cgroup's own limits stay the delegator's.
                match p.memory().set_max(Bytes::mib(1)) {
                    Err(CgroupError::Write { source, .. })
                        if source.kind() == std::io::ErrorKind::PermissionDenied =>
                    {
                        Ok(())
                    }
                    r => panic!("delegatee could write memory.max of the delegated cgroup: {r:?}"),
                }
            })();
            match result {
                Ok(()) => println!("result ok"),
                Err(e) => println!("result error: {e} ({:?})", std::error::Error::source(&e)),
            }
            common::helper_wait_line();
        }
        other => panic!("unknown helper role {other}"),
    }
}
