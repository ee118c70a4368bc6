package main

import (
	"context"
	"net"

	"github.com/go-chi/chi/v5"
	"github.com/riverqueue/river"
)

// hooks let a test reach into a running serve or worker without a process: learn the address it
// bound (PROFILES_HTTP_ADDR may say port 0), add routes and River workers. They travel in the
// context given to run, so parallel tests never share them; production code never sets them.
type hooks struct {
	listening func(addr net.Addr)    // called once the listener is bound
	routes    func(r chi.Router)     // adds routes beside the API
	workers   func(w *river.Workers) // adds River workers beside the binary's own
}

type hooksKey struct{}

func withHooks(ctx context.Context, h hooks) context.Context {
	return context.WithValue(ctx, hooksKey{}, h)
}

func hooksFrom(ctx context.Context) hooks {
	h, _ := ctx.Value(hooksKey{}).(hooks)
	return h
}
