/* cpus.c - usable CPUs: the affinity mask capped by cgroup CPU quotas (see cpus.h).
 *
 * /proc/self/cgroup names the process's cgroup per hierarchy: "0::/path" for cgroup v2,
 * "N:cpu,cpuacct:/path" for the v1 cpu controller. Every directory from that cgroup up to
 * the mount root is read, since a parent's quota binds its children too; inside a
 * container with its own cgroup namespace the path is "/" and the mount root is the
 * container's cgroup. Files that are absent or unreadable mean "no quota". */
#include "core/cpus.h"

#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { PATH_CAP = 4096, PROC_CGROUP_CAP = 16384 };

int td_cpu_quota_cpus(long long quota, long long period)
{
    if (quota <= 0 || period <= 0 || quota / period >= INT_MAX)
        return 0;
    return (int)((quota + period - 1) / period);
}

/* The first line of dir/name into buf; false when the file is absent or empty. */
static bool read_line(const char *dir, const char *name, char *buf, size_t cap)
{
    char path[PATH_CAP];
    FILE *f;
    bool ok;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path ||
        (f = fopen(path, "re")) == NULL)
        return false;
    ok = fgets(buf, (int)cap, f) != NULL;
    fclose(f);
    return ok;
}

/* The quota of one cgroup directory in CPUs; 0 when it sets none. */
static int dir_quota(const char *dir, bool v2)
{
    char a[64], b[64];
    long long quota = 0, period = 0;
    if (v2) {
        if (!read_line(dir, "cpu.max", a, sizeof a) || sscanf(a, "%lld %lld", &quota, &period) != 2)
            return 0; /* also "max 100000": no limit */
    } else if (!read_line(dir, "cpu.cfs_quota_us", a, sizeof a) ||
               !read_line(dir, "cpu.cfs_period_us", b, sizeof b) ||
               sscanf(a, "%lld", &quota) != 1 || sscanf(b, "%lld", &period) != 1) {
        return 0;
    }
    return td_cpu_quota_cpus(quota, period);
}

/* The smallest quota from base + path up to base itself; 0 when none is set. */
static int walk_quota(const char *base, const char *path, bool v2)
{
    char dir[PATH_CAP];
    size_t blen = strlen(base), len;
    int best = 0;

    if ((size_t)snprintf(dir, sizeof dir, "%s%s", base, path) >= sizeof dir)
        return 0;
    for (len = strlen(dir); len > blen && dir[len - 1] == '/'; len--)
        dir[len - 1] = '\0';
    for (;;) {
        int q = dir_quota(dir, v2);
        char *slash = strrchr(dir, '/');
        if (q > 0 && (best == 0 || q < best))
            best = q;
        if (strlen(dir) <= blen || slash == NULL || (size_t)(slash - dir) < blen)
            break;
        *slash = '\0';
    }
    return best;
}

/* True when the comma-separated v1 controller list holds "cpu". */
static bool has_cpu_controller(const char *list, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && list[j] != ',')
            j++;
        if (j - i == 3 && memcmp(list + i, "cpu", 3) == 0)
            return true;
        i = j + 1;
    }
    return false;
}

int td_usable_cpus_from(int affinity, const char *proc_self_cgroup, const char *root)
{
    int n = affinity > 0 ? affinity : 1;
    char base[PATH_CAP], path[PATH_CAP];

    for (const char *line = proc_self_cgroup; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n'), *c1 = strchr(line, ':'), *c2;
        size_t len = end ? (size_t)(end - line) : strlen(line);
        int q = 0;
        if (c1 != NULL && (size_t)(c1 - line) < len && (c2 = strchr(c1 + 1, ':')) != NULL &&
            (size_t)(c2 - line) < len && len - (size_t)(c2 + 1 - line) < sizeof path) {
            size_t plen = len - (size_t)(c2 + 1 - line);
            memcpy(path, c2 + 1, plen);
            path[plen] = '\0';
            if (c2 == c1 + 1) /* v2: no controller list */
                q = walk_quota(root, path, true);
            else if (has_cpu_controller(c1 + 1, (size_t)(c2 - c1 - 1)) &&
                     (size_t)snprintf(base, sizeof base, "%s/cpu", root) < sizeof base)
                q = walk_quota(base, path, false);
        }
        if (q > 0 && q < n)
            n = q;
        line = end ? end + 1 : NULL;
    }
    return n;
}

int td_usable_cpus(void)
{
    char text[PROC_CGROUP_CAP];
    cpu_set_t cpus;
    long affinity = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus)
                                                                  : sysconf(_SC_NPROCESSORS_ONLN);
    FILE *f = fopen("/proc/self/cgroup", "re");
    size_t got = 0;

    if (f != NULL) {
        got = fread(text, 1, sizeof text - 1, f);
        fclose(f);
    }
    text[got] = '\0';
    return td_usable_cpus_from(affinity > INT_MAX ? INT_MAX : (int)affinity, text,
                               "/sys/fs/cgroup");
}
