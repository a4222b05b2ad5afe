#include "controlplane/store/sqlite.h"

namespace fwd::controlplane::store {

absl::StatusOr<std::unique_ptr<Database>> Database::open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::UnavailableError("cannot open database " + path + ": " + msg);
  }
  sqlite3_extended_result_codes(db, 1);
  return std::unique_ptr<Database>(new Database(db));
}

Database::~Database() { sqlite3_close_v2(db_); }

absl::Status Database::exec(const std::string& sql) {
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    return error(rc, sql);
  }
  return absl::OkStatus();
}

absl::StatusOr<Statement> Database::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    return error(rc, "prepare \"" + std::string(sql) + "\"");
  }
  return Statement(this, stmt);
}

int Database::changes() const { return sqlite3_changes(db_); }

std::int64_t Database::lastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }

absl::Status Database::error(int rc, std::string_view what) const {
  std::string msg = "sqlite: " + std::string(what) + ": " + sqlite3_errmsg(db_);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(msg + " (database is busy; another process holds a lock)");
    case SQLITE_CONSTRAINT:
      return absl::FailedPreconditionError(msg);
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(msg);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

Statement::~Statement() {
  if (stmt_ != nullptr) {
    sqlite3_finalize(stmt_);
  }
}

void Statement::noteBind(int rc) {
  if (bind_rc_ == SQLITE_OK && rc != SQLITE_OK) {
    bind_rc_ = rc;
  }
}

Statement& Statement::bind(int index, std::string_view text) {
  noteBind(sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                             SQLITE_TRANSIENT));
  return *this;
}

Statement& Statement::bindBlob(int index, std::string_view bytes) {
  noteBind(sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT));
  return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
  noteBind(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

Statement& Statement::bindNull(int index) {
  noteBind(sqlite3_bind_null(stmt_, index));
  return *this;
}

Statement& Statement::bind(int index, const std::optional<std::string>& text) {
  return text.has_value() ? bind(index, std::string_view(*text)) : bindNull(index);
}

Statement& Statement::bind(int index, const std::optional<std::int64_t>& value) {
  return value.has_value() ? bind(index, *value) : bindNull(index);
}

absl::StatusOr<bool> Statement::step() {
  if (bind_rc_ != SQLITE_OK) {
    return db_->error(bind_rc_, "bind");
  }
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  return db_->error(rc, sqlite3_sql(stmt_));
}

Statement& Statement::reset() {
  sqlite3_reset(stmt_);
  bind_rc_ = SQLITE_OK;
  return *this;
}

absl::Status Statement::run() {
  for (;;) {
    absl::StatusOr<bool> row = step();
    if (!row.ok()) {
      return row.status();
    }
    if (!*row) {
      return absl::OkStatus();
    }
  }
}

std::int64_t Statement::columnInt(int index) const { return sqlite3_column_int64(stmt_, index); }

std::string Statement::columnText(int index) const {
  const unsigned char* text = sqlite3_column_text(stmt_, index);
  int size = sqlite3_column_bytes(stmt_, index);
  return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text), size);
}

std::string Statement::columnBlob(int index) const {
  const void* bytes = sqlite3_column_blob(stmt_, index);
  int size = sqlite3_column_bytes(stmt_, index);
  return bytes == nullptr ? std::string() : std::string(static_cast<const char*>(bytes), size);
}

bool Statement::columnIsNull(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

}  // namespace fwd::controlplane::store
