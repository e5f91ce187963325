/* api_www — the dashboard's static files from api.www_dir: "/" is
 * index.html, "/ui/NAME" a file of that directory.  Names are one path
 * segment of [A-Za-z0-9._-] (no dot first), so nothing outside the
 * directory can be reached. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

#define WWW_MAX (2u << 20)

static const char *mime(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return "application/octet-stream";
    if (strcmp(dot, ".html") == 0)
        return "text/html; charset=utf-8";
    if (strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    if (strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (strcmp(dot, ".svg") == 0)
        return "image/svg+xml";
    if (strcmp(dot, ".png") == 0)
        return "image/png";
    return "application/octet-stream";
}

static bool name_ok(const char *n)
{
    size_t len = strlen(n);
    return len > 0 && len < 64 && n[0] != '.' &&
           strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

int api_www(const struct wm_httpd_req *req, struct wm_httpd_resp *resp, void *arg)
{
    struct api *a = arg;
    const char *name = strcmp(req->path, "/") == 0 ? "index.html" : req->path + strlen("/ui/");
    if (!name_ok(name))
        return wm_httpd_reply(resp, 404, NULL, "no such file\n");
    char path[PATH_MAX + 128];
    snprintf(path, sizeof(path), "%s/%s", a->www_dir, name);
    FILE *f = fopen(path, "re");
    if (!f)
        return wm_httpd_reply(resp, 404, NULL, "no such file\n");
    char *buf = malloc(WWW_MAX);
    size_t n = buf ? fread(buf, 1, WWW_MAX, f) : 0;
    fclose(f);
    if (!buf)
        return -ENOMEM;
    wm_httpd_reply_owned(resp, 200, mime(name), buf, n);
    wm_httpd_add_header(resp, "Cache-Control", "no-cache");
    wm_httpd_add_header(resp, "Content-Security-Policy",
                        "default-src 'self'; style-src 'self'; script-src 'self'");
    return 0;
}
