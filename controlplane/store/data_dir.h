// The control plane's data directory: fwd.db plus the admin and node tokens, each written once
// in plaintext to a 0600 file on first start so operators (and fwdctl) can read it. Only the
// tokens' SHA-256 ever reaches the database.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "controlplane/store/store.h"

namespace fwd::controlplane::store {

inline constexpr char kDatabaseFile[] = "fwd.db";
inline constexpr char kAdminTokenFile[] = "admin.token";
inline constexpr char kNodeTokenFile[] = "node.token";

/// Creates `dir` with mode 0700 if it does not exist (parents included); fails if it exists and
/// is not a directory.
absl::Status ensureDataDir(const std::string& dir);

/// Writes `content` to a new file `path` with mode 0600 (O_CREAT|O_EXCL: never overwrites).
absl::Status writeSecretFile(const std::string& path, const std::string& content);

/// First start: when the store holds no tokens, creates an admin token ("fwd-admin-...") and a
/// node token ("fwd-node-..."), writes them to DATA_DIR/admin.token and DATA_DIR/node.token,
/// then stores their hashes. Later starts change nothing. Returns true if tokens were created.
/// If the database has no tokens but a token file exists (a reset or foreign database), fails
/// with FAILED_PRECONDITION instead of overwriting the file.
absl::StatusOr<bool> bootstrapTokens(Store& store, const std::string& dir);

}  // namespace fwd::controlplane::store
