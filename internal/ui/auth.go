package ui

import (
	"crypto/subtle"
	"net"
	"net/http"
	"strings"

	"github.com/jetflow-dev/jetflow/internal/netaddr"
)

// cookieName holds the token once a browser has opened the page with
// ?token=: links and the event streams (EventSource sends no header of
// one's choosing) then carry it without putting it in any URL.
const cookieName = "jetflow_ui_token"

// requireToken lets through requests that carry the token: as a bearer
// token (curl, scripts), in the cookie, or as ?token= on any GET, which sets
// the cookie and redirects to the same URL without it, so that the token
// does not stay in the address bar or the history.
func (s *Server) requireToken(next http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return next
	}
	want := []byte(s.cfg.Token)
	ok := func(got string) bool { return got != "" && subtle.ConstantTimeCompare([]byte(got), want) == 1 }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if tok := q.Get("token"); tok != "" && r.Method == http.MethodGet {
			if !ok(tok) {
				s.refuse(w, r, "wrong token")
				return
			}
			http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.cfg.Token, Path: "/", HttpOnly: true,
				SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			q.Del("token")
			u := *r.URL
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		if bearer, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); found && ok(bearer) {
			next.ServeHTTP(w, r)
			return
		}
		if c, err := r.Cookie(cookieName); err == nil && ok(c.Value) {
			next.ServeHTTP(w, r)
			return
		}
		s.refuse(w, r, "this page needs its token")
	})
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, why string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="jetflow ui"`)
	s.fail(w, r, http.StatusUnauthorized, why+": open the page once as /?token=TOKEN (the token jetflow ui was given with --ui-token-file or $JETFLOW_UI_TOKEN), "+
		"or send Authorization: Bearer TOKEN")
}

// checkHost refuses, on a server without a token, a Host header that does
// not name loopback: a web site whose name is made to resolve to 127.0.0.1
// (DNS rebinding) could otherwise read the page through a visitor's
// browser.
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.loopbackOnly {
			host, _, err := net.SplitHostPort(r.Host)
			if err != nil {
				host = r.Host
			}
			if !netaddr.IsLoopback(strings.Trim(host, "[]")) {
				s.fail(w, r, http.StatusForbidden, "this page answers to localhost and 127.0.0.1 only (it has no token)")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// secureHeaders keeps a browser from running anything but the page's own
// script and from framing the page, and keeps URLs out of Referer headers.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "+
			"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
