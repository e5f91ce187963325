/* Where the repository is, for tests that run its scripts or read its
 * files: $WM_REPO (tests/run sets it), else found from the executable.
 * libc only; linked into every test program. */
#ifndef COMMON_REPO_H
#define COMMON_REPO_H

#include <stddef.h>

/* The repository root into repo: $WM_REPO, else the nearest directory
 * above the executable holding marker (a path relative to the root,
 * checked with access(mode)), else ".". */
void fixture_find_repo(char *repo, size_t cap, const char *marker, int mode);

#endif
