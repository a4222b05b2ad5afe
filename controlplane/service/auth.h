// Bearer-token authentication of gRPC calls: the admin token for AdminService, the node token
// for WatchService. Only SHA-256 digests are held; presented tokens are hashed and compared in
// constant time. Tokens are never logged.
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/token.h"
#include "controlplane/store/store.h"

namespace fwd::controlplane::service {

/// Immutable after construction; safe to use from any thread.
class TokenAuthenticator {
 public:
  TokenAuthenticator(std::vector<common::crypto::Sha256Digest> admin,
                     std::vector<common::crypto::Sha256Digest> node)
      : admin_(std::move(admin)), node_(std::move(node)) {}

  /// Loads the token digests from the store.
  static absl::StatusOr<std::unique_ptr<TokenAuthenticator>> load(store::Store& store);

  /// OK when the call carries "authorization: Bearer <admin token>"; UNAUTHENTICATED otherwise.
  grpc::Status checkAdmin(const grpc::ServerContext& context) const;
  /// Same for the node token.
  grpc::Status checkNode(const grpc::ServerContext& context) const;

 private:
  grpc::Status check(const grpc::ServerContext& context,
                     const std::vector<common::crypto::Sha256Digest>& accepted,
                     const char* missing_message, const char* invalid_message) const;

  const std::vector<common::crypto::Sha256Digest> admin_;
  const std::vector<common::crypto::Sha256Digest> node_;
};

}  // namespace fwd::controlplane::service
