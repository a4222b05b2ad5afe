#include "controlplane/service/auth.h"

#include <string_view>

namespace fwd::controlplane::service {
namespace {

constexpr char kMissingAdmin[] =
    "missing admin token: pass --token, set FWD_ADMIN_TOKEN or run fwdctl from the directory "
    "holding fwd-data/admin.token";
constexpr char kInvalidAdmin[] = "invalid admin token";
constexpr char kMissingNode[] =
    "missing node token: start fwd-dataplane with --node-token-file pointing at the control "
    "plane's DATA_DIR/node.token";
constexpr char kInvalidNode[] = "invalid node token";

absl::StatusOr<std::vector<common::crypto::Sha256Digest>> loadDigests(store::Store& store,
                                                                      store::TokenKind kind) {
  absl::StatusOr<std::vector<std::string>> hashes = store.tokenHashes(kind);
  if (!hashes.ok()) {
    return hashes.status();
  }
  std::vector<common::crypto::Sha256Digest> out;
  for (const std::string& hex : *hashes) {
    common::crypto::Sha256Digest digest{};
    if (!common::crypto::parseSha256Hex(hex, digest)) {
      return absl::DataLossError(std::string("stored ") + store::tokenKindName(kind) +
                                 " token hash is not 64 hex characters");
    }
    out.push_back(digest);
  }
  return out;
}

bool startsWithBearer(std::string_view value) {
  constexpr std::string_view kBearer = "bearer ";
  if (value.size() < kBearer.size()) {
    return false;
  }
  for (size_t i = 0; i < kBearer.size(); ++i) {
    char c = value[i];
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    if (c != kBearer[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenAuthenticator>> TokenAuthenticator::load(store::Store& store) {
  absl::StatusOr<std::vector<common::crypto::Sha256Digest>> admin =
      loadDigests(store, store::TokenKind::kAdmin);
  if (!admin.ok()) {
    return admin.status();
  }
  absl::StatusOr<std::vector<common::crypto::Sha256Digest>> node =
      loadDigests(store, store::TokenKind::kNode);
  if (!node.ok()) {
    return node.status();
  }
  return std::make_unique<TokenAuthenticator>(std::move(*admin), std::move(*node));
}

grpc::Status TokenAuthenticator::checkAdmin(const grpc::ServerContext& context) const {
  return check(context, admin_, kMissingAdmin, kInvalidAdmin);
}

grpc::Status TokenAuthenticator::checkNode(const grpc::ServerContext& context) const {
  return check(context, node_, kMissingNode, kInvalidNode);
}

grpc::Status TokenAuthenticator::check(const grpc::ServerContext& context,
                                       const std::vector<common::crypto::Sha256Digest>& accepted,
                                       const char* missing_message,
                                       const char* invalid_message) const {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end() || it->second.empty()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, missing_message);
  }
  std::string_view value(it->second.data(), it->second.size());
  if (!startsWithBearer(value)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        std::string(invalid_message) + " (expected \"Bearer <token>\")");
  }
  value.remove_prefix(7);
  if (value.empty()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, missing_message);
  }
  const common::crypto::Sha256Digest presented = common::crypto::sha256(value);
  bool match = false;
  // Compare against every accepted digest so the time taken does not say which one matched.
  for (const common::crypto::Sha256Digest& digest : accepted) {
    match = common::crypto::constantTimeEqual(presented, digest) || match;
  }
  if (!match) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, invalid_message);
  }
  return grpc::Status::OK;
}

}  // namespace fwd::controlplane::service
