package server

import (
	"encoding/base64"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/quarry/quarry/meta"
	"github.com/quarry/quarry/server/api"
)

// wwwAuthenticate is sent with every 401: both accepted schemes.
const wwwAuthenticate = `Bearer realm="quarry", Basic realm="quarry"`

// KeyFrom returns the API key that authenticated the request (the zero
// Key on a public route). Handlers read the caller's role and scope here.
func KeyFrom(c *fiber.Ctx) meta.Key { return api.KeyFrom(c) }

// auth resolves the request's API key (SPEC.md §6) — `Authorization:
// Bearer <secret>`, or HTTP Basic with the secret as the password and any
// user name — and stores it for KeyFrom. A missing, unknown or revoked
// key is a 401 naming both schemes.
func (s *Server) auth(c *fiber.Ctx) error {
	secret, ok := credentials(c.Get(fiber.HeaderAuthorization))
	if !ok {
		return unauthorized(c, "Missing API key: send Authorization: Bearer <key>, or HTTP Basic with the key as the password")
	}
	if s.deps.Keys == nil {
		return api.Internal(errors.New("no key store configured"))
	}
	k, err := s.deps.Keys.KeyBySecret(c.UserContext(), secret)
	if errors.Is(err, meta.ErrNotFound) {
		return unauthorized(c, "Invalid or revoked API key")
	}
	if err != nil {
		return api.Internal(err)
	}
	if k.RevokedAt != nil { // the store should not return one; do not trust it to
		return unauthorized(c, "Invalid or revoked API key")
	}
	api.SetKey(c, k)
	return c.Next()
}

func unauthorized(c *fiber.Ctx, detail string) error {
	c.Set(fiber.HeaderWWWAuthenticate, wwwAuthenticate)
	return &api.Error{Status: fiber.StatusUnauthorized, Code: "unauthorized", Message: "Unauthorized", Detail: detail}
}

// credentials extracts the secret from an Authorization header value.
func credentials(h string) (string, bool) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return rest, rest != ""
	case strings.EqualFold(scheme, "Basic"):
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", false
		}
		_, pass, ok := strings.Cut(string(b), ":")
		return pass, ok && pass != ""
	}
	return "", false
}
