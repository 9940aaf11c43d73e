package queue

import (
	"time"

	"github.com/valyala/fasthttp"

	"github.com/rampdev/ramp/serving/proxy"
)

// serveUpgrade relays a "Connection: Upgrade" request (WebSocket, h2c
// upgrade) as raw TCP: it sends the request head to the user container and
// then copies bytes both ways, the container's 101 answer included, until
// either side closes. The tunnel keeps its concurrency slot and counts as
// in flight for its whole life, like Knative's queue-proxy.
func (p *fastProxy) serveUpgrade(ctx *fasthttp.RequestCtx, tag *TagCounters, started time.Duration) {
	proxy.AppendForwardedFor(&ctx.Request.Header, ctx.RemoteAddr())
	up, err := proxy.DialUpgrade(&ctx.Request, p.target, dialTimeout)
	if err != nil {
		p.breaker.Release()
		p.upstreamFailed(ctx, err, time.Time{})
		p.rec.Finish(tag, started, ctx.Response.StatusCode())
		return
	}
	p.tunnels.Hijack(ctx, up, nil, func(status int) {
		p.breaker.Release()
		p.rec.Finish(tag, started, status)
	})
}
