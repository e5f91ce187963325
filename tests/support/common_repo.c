/* Finding the repository; see common_repo.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common_repo.h"

void fixture_find_repo(char *repo, size_t cap, const char *marker, int mode)
{
    const char *e = getenv("WM_REPO");
    if (e && *e) {
        snprintf(repo, cap, "%s", e);
        return;
    }
    ssize_t n = readlink("/proc/self/exe", repo, cap - 1);
    repo[n > 0 ? n : 0] = '\0';
    for (char *s; (s = strrchr(repo, '/')) && s != repo;) {
        char p[4096 + 256];
        *s = '\0';
        snprintf(p, sizeof(p), "%s/%s", repo, marker);
        if (access(p, mode) == 0)
            return;
    }
    snprintf(repo, cap, ".");
}
