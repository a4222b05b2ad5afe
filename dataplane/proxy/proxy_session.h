// One client connection: a C++20 coroutine on its worker's io_context that serves HTTP/1.1
// keep-alive requests top to bottom — head, key, body, model, ACL, candidates, attempts,
// relay — as DESIGN.md §2 lays out.
#pragma once

#include <boost/beast/http/field.hpp>

#include "dataplane/proxy/worker_context.h"
#include "dataplane/proxy/worker_io.h"

namespace fwd::dataplane::proxy {

/// Runs until the client closes, a limit or error ends the connection, or a drain closes it
/// while idle. Never throws.
Task<void> serveConnection(WorkerContext& worker, Socket socket);

/// Worker thread, from the watchdog's sweep: starts watching the client connections of attempts
/// that have been waiting on their upstream since before `now` minus one tick.
void armDueClientWatches(WorkerContext& worker, std::chrono::steady_clock::time_point now);

/// True for request headers that must not be forwarded upstream: hop-by-hop headers, the
/// client's credentials, headers fwd sets itself (Host, Content-Length, X-Forwarded-For, ...)
/// and the client's other claims about its address (Forwarded, X-Real-IP). Any case. Fields
/// the request's Connection header names are dropped too (ClientRequestParser).
bool isDroppedRequestHeader(std::string_view name);
/// The same, for a field Beast has already classified (no string compares for known names).
bool isDroppedRequestField(boost::beast::http::field name, std::string_view name_string);
/// False when a path has "." or ".." segments (also percent-encoded) that could climb out of
/// the upstream's base path.
bool isSafePath(std::string_view path);

}  // namespace fwd::dataplane::proxy
