// One client connection: a C++20 coroutine on its worker's io_context that serves HTTP/1.1
// keep-alive requests top to bottom — head, key, body, model, ACL, candidates, attempts,
// relay — as DESIGN.md §2 lays out.
#pragma once

#include "dataplane/proxy/request_rules.h"
#include "dataplane/proxy/worker_context.h"
#include "dataplane/proxy/worker_io.h"

namespace fwd::dataplane::proxy {

/// Runs until the client closes, a limit or error ends the connection, or a drain closes it
/// while idle. Never throws.
Task<void> serveConnection(WorkerContext& worker, Socket socket);

/// Worker thread, from the watchdog's sweep: starts watching the client connections of attempts
/// that have been waiting on their upstream since before `now` minus one tick.
void armDueClientWatches(WorkerContext& worker, std::chrono::steady_clock::time_point now);

}  // namespace fwd::dataplane::proxy
