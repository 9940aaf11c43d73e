package proxy

import (
	"io"
	"sync"

	"github.com/valyala/fasthttp"
)

// CopyResponse copies up, an upstream response read by a fasthttp client
// with StreamResponseBody, to ctx's response: the header less hop-by-hop
// headers, and the body when up has none or a Content-Length up to
// bufferedLimit. Such a body is read whole at once, which gives the
// upstream connection back to its pool, and answered from memory; up can
// then be released. CopyResponse returns false when the body is longer or
// chunked: the caller then hands it to StreamBody.
func CopyResponse(ctx *fasthttp.RequestCtx, up *fasthttp.Response, bufferedLimit int) (done bool) {
	CopyResponseHeader(&ctx.Response.Header, &up.Header)
	body := up.BodyStream()
	if cl := up.Header.ContentLength(); body == nil || (cl >= 0 && cl <= bufferedLimit) {
		if body != nil {
			ctx.Response.SetBody(up.Body()) // Body drains the stream and frees the connection
		}
		return true
	}
	return false
}

// StreamBody makes up's body the body of ctx's response, streamed as it
// arrives: fasthttp writes a chunked response one flushed chunk per read,
// so server-sent events reach the client as the upstream sends them. Once
// fasthttp is done with the body (its last byte written, or a failure on
// either side) the upstream connection is freed (closed unless the body
// was read to its end), up is released, and done is called; timedOut
// tells whether reading the upstream timed out.
func StreamBody(ctx *fasthttp.RequestCtx, up *fasthttp.Response, done func(timedOut bool)) {
	r := relayPool.Get().(*bodyRelay)
	*r = bodyRelay{up: up, src: up.BodyStream(), done: done}
	ctx.Response.SetBodyStream(r, up.Header.ContentLength())
}

// bodyRelay streams an upstream response body to the client and, when
// fasthttp closes it, frees the upstream connection and calls done.
type bodyRelay struct {
	up       *fasthttp.Response
	src      io.Reader
	done     func(timedOut bool)
	eof      bool
	timedOut bool
}

var relayPool = sync.Pool{New: func() any { return new(bodyRelay) }}

func (r *bodyRelay) Read(b []byte) (int, error) {
	n, err := r.src.Read(b)
	switch {
	case err == io.EOF:
		r.eof = true
	case err != nil && IsTimeout(err):
		r.timedOut = true
	}
	return n, err
}

// CloseWithError implements fasthttp.ReadCloserWithError.
func (r *bodyRelay) CloseWithError(werr error) error {
	if werr != nil || !r.eof {
		// The body was not read to its end: the connection cannot be
		// reused.
		r.up.SetConnectionClose()
	}
	err := r.up.CloseBodyStream()
	fasthttp.ReleaseResponse(r.up)
	done, timedOut := r.done, r.timedOut
	*r = bodyRelay{}
	relayPool.Put(r)
	if done != nil {
		done(timedOut)
	}
	return err
}
