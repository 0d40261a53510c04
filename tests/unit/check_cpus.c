/* check_cpus.c - unit tests of lib/core/cpus: quota arithmetic, and the usable CPU count
 * from /proc/self/cgroup text over fake cgroup v2 and v1 trees in a temp directory
 * (limits on the process's cgroup, on a parent, none, malformed files), plus the real
 * machine's count staying within its affinity mask. */
#include <check.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cpus.h"
#include "check_run.h"

static char root[256];

/* Creates root/rel (and parents) and writes text to root/rel/name. */
static void put(const char *rel, const char *name, const char *text)
{
    char path[1024], cmd[1200];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(path, sizeof path, "%s/%s/%s", root, rel, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    snprintf(root, sizeof root, "/tmp/td-cpus-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(quota_arithmetic)
{
    ck_assert_int_eq(td_cpu_quota_cpus(200000, 100000), 2);
    ck_assert_int_eq(td_cpu_quota_cpus(150000, 100000), 2); /* 1.5 CPUs: rounded up */
    ck_assert_int_eq(td_cpu_quota_cpus(50000, 100000), 1);
    ck_assert_int_eq(td_cpu_quota_cpus(-1, 100000), 0); /* v1: no limit */
    ck_assert_int_eq(td_cpu_quota_cpus(100000, 0), 0);
    ck_assert_int_eq(td_cpu_quota_cpus(0, 100000), 0);
    ck_assert_int_eq(td_cpu_quota_cpus(1LL << 62, 1), 0); /* out of range */
}
END_TEST

START_TEST(cgroup_v2)
{
    put("kubepods/pod1/c1", "cpu.max", "max 100000\n");
    put("kubepods/pod1", "cpu.max", "250000 100000\n"); /* the pod's limit: 3 */
    put("kubepods", "cpu.max", "max 100000\n");
    ck_assert_int_eq(td_usable_cpus_from(64, "0::/kubepods/pod1/c1\n", root), 3);
    ck_assert_int_eq(td_usable_cpus_from(2, "0::/kubepods/pod1/c1\n", root), 2); /* affinity */
    ck_assert_int_eq(td_usable_cpus_from(64, "0::/kubepods\n", root), 64);
    /* a container with its own cgroup namespace: "/" and the limit at the mount root */
    put(".", "cpu.max", "100000 100000\n");
    ck_assert_int_eq(td_usable_cpus_from(64, "0::/\n", root), 1);
    ck_assert_int_eq(td_usable_cpus_from(64, "0::/no/such/group\n", root), 1);
}
END_TEST

START_TEST(cgroup_v1)
{
    put("cpu/docker/abc", "cpu.cfs_quota_us", "400000\n");
    put("cpu/docker/abc", "cpu.cfs_period_us", "100000\n");
    const char *text = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/x\n";
    ck_assert_int_eq(td_usable_cpus_from(32, text, root), 4);
    ck_assert_int_eq(td_usable_cpus_from(32, "4:cpuacct:/docker/abc\n", root), 32); /* not cpu */
    put("cpu", "cpu.cfs_quota_us", "-1\n");
    put("cpu", "cpu.cfs_period_us", "100000\n");
    ck_assert_int_eq(td_usable_cpus_from(8, "3:cpu:/\n", root), 8);
}
END_TEST

START_TEST(bad_input)
{
    put("g", "cpu.max", "garbage\n");
    ck_assert_int_eq(td_usable_cpus_from(4, "0::/g\n", root), 4);
    put("h", "cpu.max", "");
    ck_assert_int_eq(td_usable_cpus_from(4, "0::/h", root), 4);
    ck_assert_int_eq(td_usable_cpus_from(4, "", root), 4);
    ck_assert_int_eq(td_usable_cpus_from(4, "no colons here\n::\n:\n", root), 4);
    ck_assert_int_eq(td_usable_cpus_from(0, NULL, root), 1);
}
END_TEST

START_TEST(this_machine)
{
    cpu_set_t cpus;
    int n = td_usable_cpus();
    ck_assert_int_ge(n, 1);
    if (sched_getaffinity(0, sizeof cpus, &cpus) == 0)
        ck_assert_int_le(n, CPU_COUNT(&cpus));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cpus");
    TCase *tc = tcase_create("cpus");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, quota_arithmetic);
    tcase_add_test(tc, cgroup_v2);
    tcase_add_test(tc, cgroup_v1);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, this_machine);
    suite_add_tcase(s, tc);
    return td_check_run(s);
}
