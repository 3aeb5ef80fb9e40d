package console

import (
	"embed"
	"io/fs"
	"mime"
	"path"

	"github.com/gofiber/fiber/v2"

	"github.com/quarry/quarry/server/api"
)

// static holds the console page: plain HTML, CSS and JS written for
// Quarry, embedded in the binary (no CDN, no build step).
//
//go:embed static
var static embed.FS

// pageCSP allows the page only its own scripts, styles and API calls.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func (a *API) pageRoutes() []api.Route {
	return []api.Route{
		{Method: fiber.MethodGet, Path: "/console", Tag: "console", Public: true,
			Summary: "The SQL console page (public static file; every API call it makes carries the key)",
			Handler: servePage("index.html")},
		{Method: fiber.MethodGet, Path: "/console/:file", Tag: "console", Public: true,
			Summary:   "The console page's static files (console.js, console.css)",
			Params:    []api.Param{{Name: "file", In: "path", Required: true, Description: "console.js or console.css"}},
			Responses: map[int]string{fiber.StatusNotFound: "no such file"},
			Handler:   func(c *fiber.Ctx) error { return servePage(c.Params("file"))(c) }},
	}
}

func servePage(name string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		b, err := fs.ReadFile(static, path.Join("static", path.Clean("/" + name)[1:]))
		if err != nil || name == "" {
			return &api.Error{Status: fiber.StatusNotFound, Code: "not_found", Message: "no such file: " + name}
		}
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		c.Set(fiber.HeaderContentType, ct)
		c.Set("Content-Security-Policy", pageCSP)
		c.Set("X-Content-Type-Options", "nosniff")
		c.Set("Referrer-Policy", "no-referrer")
		c.Set(fiber.HeaderCacheControl, "no-cache")
		return c.Send(b)
	}
}
