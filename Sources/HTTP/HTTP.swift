// HTTP: an HTTP/1.1 server for applications of the library OS.
//
// Layers, bottom to top:
//   * `HTTPRequestParser`   incremental RFC 9112 request parser with configurable `HTTPLimits`; consumes input in
//                           pieces of any size, stops at the end of each request, never reads past its input.
//   * `HTTPResponse`        a response value; `HTTPResponseEncoder` serializes it into a reusable `[UInt8]` or a
//                           caller-provided buffer (`HTTPFixedBuffer`).
//   * `HTTPServerConnection` the pure per-connection state machine: bytes in, requests (or an error response) out,
//                           responses in, bytes to send out, plus the keep-alive decision. No I/O, no clock.
//   * `serve(connection:…)` a blocking loop over any `HTTPTransport` (read / write / close), which the integration
//                           layer implements with TCP sockets.
//   * `HTTPStaticPath`, `HTTPContentType`  helpers for serving files: safe path normalization and media types.
//
// The module depends only on `Interfaces` and compiles both for the host and as Embedded Swift: no Foundation,
// typed throws only, no String comparison (header names and methods are compared as bytes).
//
// Decisions (details on the types named):
//   * Request content is delivered complete, buffered up to `HTTPLimits.maxBodySize`; there is no request
//     streaming. Responses can stream (chunked for HTTP/1.1, close-delimited for HTTP/1.0).
//   * `Expect: 100-continue` is answered with an interim 100 when none of the content has arrived yet; a
//     Content-Length over the limit is answered with 413 instead.
//   * Unsupported transfer codings before `chunked` get 501 (RFC 9112 §6.1); a Transfer-Encoding that does not
//     end in `chunked` gets 400 (RFC 9112 §6.3 item 4); Transfer-Encoding with Content-Length, repeated
//     Content-Length fields and Transfer-Encoding in HTTP/1.0 get 400.
//   * Lines end in CRLF; a bare LF is accepted as a line end (RFC 9112 §2.2), a bare CR is an error.
//   * Every error response closes the connection. Responses always say HTTP/1.1.
//   * No timeouts here (nothing reads a clock): the owner of the transport applies them; `isIdle` tells when a
//     connection waits between requests.
