package docker

import (
	"net/http"
)

// wireServerSocketName is the socket in a VM's host dir behind
// 168.63.129.16:80 inside that VM.
const wireServerSocketName = "wireserver.sock"

// wireServerVersions is WireServer's answer to GET /?comp=versions: the
// protocol versions it speaks.
const wireServerVersions = `<?xml version="1.0" encoding="utf-8"?>
<Versions>
  <Preferred>
    <Version>2015-04-05</Version>
  </Preferred>
  <Supported>
    <Version>2015-04-05</Version>
    <Version>2012-11-30</Version>
    <Version>2012-09-15</Version>
    <Version>2012-05-15</Version>
    <Version>2011-12-31</Version>
    <Version>2011-10-15</Version>
    <Version>2011-08-31</Version>
    <Version>2011-04-07</Version>
    <Version>2010-12-15</Version>
    <Version>2010-28-10</Version>
  </Supported>
</Versions>
`

// wireServerHandler is a minimal WireServer: it exists so that nothing a
// VM sends to 168.63.129.16 leaves this machine. It lists its versions and
// answers everything else (goal state, health reports) 404, which a guest
// agent takes as a fabric that does not serve it.
type wireServerHandler struct{}

func (wireServerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/" && r.URL.Query().Get("comp") == "versions" {
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(wireServerVersions))
		return
	}
	http.Error(w, "not served by azsim", http.StatusNotFound)
}
