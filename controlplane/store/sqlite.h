// Thin RAII layer over the SQLite C API for the control-plane store: one connection, prepared
// statements with bound parameters only, and errors turned into absl::Status. Nothing here knows
// the schema.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fwd::controlplane::store {

class Statement;

/// One open database connection. Not thread-safe: the owner serialises calls.
class Database {
 public:
  /// Opens (creating if needed) the file at `path` in serialized mode.
  static absl::StatusOr<std::unique_ptr<Database>> open(const std::string& path);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  /// Runs SQL without parameters or results (PRAGMA, BEGIN, COMMIT, DDL).
  absl::Status exec(const std::string& sql);
  absl::StatusOr<Statement> prepare(std::string_view sql);
  /// Rows changed by the last INSERT/UPDATE/DELETE.
  int changes() const;
  std::int64_t lastInsertRowid() const;
  /// The status for an SQLite result code `rc`, with `what` and the connection's message.
  absl::Status error(int rc, std::string_view what) const;

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

/// A prepared statement. Bind parameters are 1-based, as in SQLite.
class Statement {
 public:
  Statement(Statement&& other) noexcept
      : db_(other.db_), stmt_(other.stmt_), bind_rc_(other.bind_rc_) {
    other.stmt_ = nullptr;
  }
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  ~Statement();

  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, const std::string& text) {
    return bind(index, std::string_view(text));
  }
  Statement& bind(int index, std::int64_t value);
  Statement& bindNull(int index);
  /// Bytes stored as a BLOB (any bytes, NULs included).
  Statement& bindBlob(int index, std::string_view bytes);
  Statement& bind(int index, const std::optional<std::string>& text);
  Statement& bind(int index, const std::optional<std::int64_t>& value);

  /// Advances: true when a row is available, false when done; an error status otherwise
  /// (including the first bind error, reported here so call sites check one place).
  absl::StatusOr<bool> step();
  /// Steps to completion, for statements that return no rows.
  absl::Status run();
  /// Makes the statement ready to be bound and run again (bindings are replaced by the next
  /// bind calls).
  Statement& reset();

  std::int64_t columnInt(int index) const;
  std::string columnText(int index) const;
  std::string columnBlob(int index) const;
  bool columnIsNull(int index) const;

 private:
  friend class Database;
  Statement(const Database* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  void noteBind(int rc);

  const Database* db_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

}  // namespace fwd::controlplane::store
