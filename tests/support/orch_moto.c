/* moto and its fault proxy for the aws tests; see orch_moto.h. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "orch_fixture.h"
#include "orch_moto.h"

static const char *python(void)
{
    static char py[PATH_MAX];
    const char *p = getenv("WM_PY");
    if (p && *p)
        return p;
    snprintf(py, sizeof(py), "%s/.cache/wavemill/venv/bin/python", getenv("HOME"));
    return py;
}

static int read_int_file(const char *path)
{
    FILE *f = fopen(path, "r");
    int v = 0;
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v;
}

static int start_proxy(struct orch_moto *m, const char *repo, const char *dir)
{
    char port_file[PATH_MAX], target[16], script[PATH_MAX + 64];
    snprintf(port_file, sizeof(port_file), "%s/proxy.port", dir);
    snprintf(m->proxy_log, sizeof(m->proxy_log), "%s/proxy.log", dir);
    snprintf(target, sizeof(target), "%d", m->moto_port);
    snprintf(script, sizeof(script), "%s/tests/peers/moto_fault_proxy.py", repo);
    m->proxy_pid = fork();
    if (m->proxy_pid < 0)
        return -1;
    if (m->proxy_pid == 0) {
        setsid();
        execl(python(), python(), script, "--target-port", target, "--port-file", port_file,
              "--log", m->proxy_log, "--max-seconds", "300", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100 && !m->proxy_port; i++) { /* 10 s at most */
        usleep(100 * 1000);
        m->proxy_port = read_int_file(port_file);
    }
    snprintf(m->proxy_url, sizeof(m->proxy_url), "http://127.0.0.1:%d", m->proxy_port);
    return m->proxy_port ? 0 : -1;
}

int orch_moto_start(struct orch_moto *m, const char *repo, const char *dir)
{
    if (fixture_sh("timeout 60 '%s/tests/peers/moto_server.sh' start '%s' >/dev/null", repo, dir) !=
        0) {
        fprintf(stderr, "cannot start moto (see %s/moto.log)\n", dir);
        return -1;
    }
    char pf[PATH_MAX + 16];
    snprintf(pf, sizeof(pf), "%s/moto.port", dir);
    m->moto_port = read_int_file(pf);
    snprintf(m->moto_url, sizeof(m->moto_url), "http://127.0.0.1:%d", m->moto_port);
    if (start_proxy(m, repo, dir) < 0) {
        fprintf(stderr, "fault proxy did not start\n");
        return -1;
    }
    return 0;
}

int orch_moto_stop(struct orch_moto *m, const char *repo, const char *dir)
{
    if (m->proxy_pid > 0) {
        kill(m->proxy_pid, SIGTERM);
        waitpid(m->proxy_pid, NULL, 0);
    }
    return fixture_sh("'%s/tests/peers/moto_server.sh' stop '%s'; rm -rf '%s'", repo, dir, dir);
}
