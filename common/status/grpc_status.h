// absl::Status <-> grpc::Status, code for code (both use the canonical gRPC codes), so the
// control plane's precise errors reach fwdctl unchanged.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace fwd::common::status {

grpc::Status toGrpc(const absl::Status& s);
absl::Status fromGrpc(const grpc::Status& s);

}  // namespace fwd::common::status
