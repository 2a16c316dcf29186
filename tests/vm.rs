//! Container limits that need cgroup v2 controllers (memory, cpu, pids, cpuset, io): run
//! inside the throw-away VM by `scripts/vm-tests.sh` (feature `vm-tests`), because the CI
//! host's cgroup2 has only `hugetlb`.

mod common;
