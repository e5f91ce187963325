"""Prometheus scrape peer: fetches a /metrics page and parses it with
prometheus_client's own text parser (an implementation independent of
wavemill's writer), so a malformed page fails here as it would in Prometheus.

  prom_peer.py URL                      parse only; prints the family count
  prom_peer.py URL NAME [LABEL=VALUE]   prints the value of that sample
                                        ("absent" when no sample matches)
Exit 1 when the page cannot be fetched or parsed."""
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def main():
    url = sys.argv[1]
    with urllib.request.urlopen(url, timeout=20) as r:
        ctype = r.headers.get("Content-Type", "")
        text = r.read().decode("utf-8")
    if not ctype.startswith("text/plain"):
        sys.exit(f"unexpected content type {ctype!r}")
    families = list(text_string_to_metric_families(text))
    if len(sys.argv) == 2:
        print(len(families))
        return
    name = sys.argv[2]
    want = dict(a.split("=", 1) for a in sys.argv[3:])
    for fam in families:
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in want.items()):
                print(repr(s.value) if s.value != int(s.value) else int(s.value))
                return
    print("absent")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a parse error is the test's failure
        sys.exit(f"prom_peer: {e}")
