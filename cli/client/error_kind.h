// Which kind of failure an absl::Status from the CLI is: a wrong invocation or local setup
// (exit 2), an unreachable control plane (exit 3), or an answer from the server (exit 1). The
// kind rides on the status as a payload, so every layer can keep returning plain absl::Status.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace fwd::cli::client {

enum class ErrorKind {
  // The server answered with this error (or any error not marked otherwise).
  kServer,
  // Unknown flag/noun/verb, missing or malformed value, no admin token: fixable by the operator
  // without the server.
  kUsage,
  // No connection to the control plane could be made within the deadline.
  kUnreachable,
};

/// An INVALID_ARGUMENT status marked as a usage error; `message` is shown as is.
absl::Status usageError(std::string message);

/// An UNAVAILABLE status marked unreachable: "cannot reach the control plane at SERVER: DETAIL".
absl::Status unreachableError(const std::string& server, const std::string& detail);

ErrorKind errorKind(const absl::Status& status);

}  // namespace fwd::cli::client
