#include "controlplane/records/record_store.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cstdio>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/config/budget.h"

namespace fwd::controlplane::records {
namespace {

using common::config::BudgetPeriod;
using common::config::budgetPeriodIndex;
using google::protobuf::util::TimeUtil;

// 9999-12-31: times beyond are read as this (a query "until forever").
constexpr std::int64_t kLastMs = 253'402'300'799'999;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS records(
  id TEXT NOT NULL,
  time_ms INTEGER NOT NULL,
  key_name TEXT NOT NULL,
  model TEXT NOT NULL,
  upstream TEXT NOT NULL,
  status INTEGER NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  cached_tokens INTEGER NOT NULL,
  cost_nano_usd INTEGER NOT NULL,
  priced INTEGER NOT NULL,
  record BLOB NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS records_id ON records(id);
CREATE INDEX IF NOT EXISTS records_time ON records(time_ms);
CREATE INDEX IF NOT EXISTS records_key_time ON records(key_name, time_ms);
)sql";

std::int64_t monthIndex(std::int64_t unix_ms) {
  return budgetPeriodIndex(BudgetPeriod::kMonth, std::clamp<std::int64_t>(unix_ms, 0, kLastMs));
}

/// Unix ms of 00:00 UTC on the 1st of month `index` (months since 1970-01).
std::int64_t monthStartMs(std::int64_t index) {
  // Days from civil (Howard Hinnant's algorithm), for day 1 of the month.
  std::int64_t y = 1970 + index / 12;
  const std::int64_t m = index % 12 + 1;
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return (era * 146097 + doe - 719468) * 86'400'000;
}

std::string nameOfMonth(std::int64_t index) {
  char name[32];
  std::snprintf(name, sizeof name, "records-%04lld-%02lld.db",
                static_cast<long long>(1970 + index / 12), static_cast<long long>(index % 12 + 1));
  return name;
}

/// The month index of a file name records-YYYY-MM.db, or -1.
std::int64_t monthOfName(const std::string& name) {
  int year = 0, month = 0;
  char tail[4] = {};
  if (name.size() != 18 ||
      std::sscanf(name.c_str(), "records-%4d-%2d.%2s", &year, &month, tail) != 3 ||
      std::string(tail) != "db" || year < 1970 || month < 1 || month > 12) {
    return -1;
  }
  return static_cast<std::int64_t>(year - 1970) * 12 + (month - 1);
}

/// " AND ..." for the query's filters, binding from parameter 3 on (1 and 2 are the times).
struct Where {
  std::string sql;
  std::vector<std::string> texts;
  int status_class = 0;
};

/// `no_index`: the columns are written +column, so that SQLite reads in rowid order rather
/// than walking an index and sorting what it found.
Where whereOf(const Query& q, bool no_index = false) {
  Where w;
  auto text = [&](const char* column, const std::string& value) {
    if (!value.empty()) {
      w.sql += no_index ? " AND +" : " AND ";
      w.sql += column;
      w.sql += " = ?";
      w.sql += std::to_string(3 + w.texts.size());
      w.texts.push_back(value);
    }
  };
  text("key_name", q.key);
  text("model", q.model);
  text("upstream", q.upstream);
  if (q.status_class >= 1 && q.status_class <= 5) {
    w.status_class = q.status_class;
    w.sql += " AND status >= " + std::to_string(q.status_class * 100) + " AND status < " +
             std::to_string(q.status_class * 100 + 100);
  }
  return w;
}

void bindWhere(store::Statement& st, const Query& q, const Where& w) {
  st.bind(1, q.from_ms).bind(2, std::min(q.to_ms, kLastMs + 1));
  for (size_t i = 0; i < w.texts.size(); ++i) {
    st.bind(static_cast<int>(3 + i), w.texts[i]);
  }
}

const char* groupExpr(GroupBy by) {
  switch (by) {
    case GroupBy::kNone:
      return "''";
    case GroupBy::kKey:
      return "key_name";
    case GroupBy::kModel:
      return "model";
    case GroupBy::kUpstream:
      return "upstream";
    case GroupBy::kDay:
      return "strftime('%Y-%m-%d', time_ms / 1000, 'unixepoch')";
    case GroupBy::kHour:
      return "strftime('%Y-%m-%dT%H', time_ms / 1000, 'unixepoch')";
  }
  return "''";
}

}  // namespace

absl::StatusOr<std::unique_ptr<RecordStore>> RecordStore::open(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError("cannot create the records directory " + dir.string() + ": " +
                                  ec.message());
  }
  return std::unique_ptr<RecordStore>(new RecordStore(dir));
}

std::string RecordStore::fileName(std::int64_t unix_ms) { return nameOfMonth(monthIndex(unix_ms)); }

std::vector<std::string> RecordStore::files() const {
  std::vector<std::int64_t> months;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    if (std::int64_t m = monthOfName(entry.path().filename().string()); m >= 0) {
      months.push_back(m);
    }
  }
  std::sort(months.begin(), months.end());
  std::vector<std::string> names;
  for (std::int64_t m : months) {
    names.push_back(nameOfMonth(m));
  }
  return names;
}

std::vector<std::int64_t> RecordStore::monthsOf(const Query& q) const {
  const std::int64_t first = monthIndex(q.from_ms);
  const std::int64_t last = monthIndex(std::min(q.to_ms, kLastMs + 1) - 1);
  std::vector<std::int64_t> months;
  for (const std::string& name : files()) {
    std::int64_t m = monthOfName(name);
    if (m >= first && m <= last) {
      months.push_back(m);
    }
  }
  std::reverse(months.begin(), months.end());
  return months;
}

absl::StatusOr<store::Database*> RecordStore::month(std::int64_t index, bool create) {
  if (auto it = open_.find(index); it != open_.end()) {
    return it->second.get();
  }
  const std::filesystem::path path = dir_ / nameOfMonth(index);
  std::error_code ec;
  if (!create && !std::filesystem::exists(path, ec)) {
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<store::Database>> db = store::Database::open(path.string());
  if (!db.ok()) {
    return db.status();
  }
  // WAL: readers (fwdctl usage, logs) never block the writer; NORMAL: a power cut may lose the
  // last batches, never corrupt the file. Another process holding a lock is waited for.
  for (const char* sql : {"PRAGMA busy_timeout = 5000", "PRAGMA journal_mode = WAL",
                          "PRAGMA synchronous = NORMAL", kSchema}) {
    if (absl::Status s = (*db)->exec(sql); !s.ok()) {
      return s;
    }
  }
  // A long-running control plane opens one file a month; the old ones are closed as the next
  // is opened, but for a query that reads them again.
  while (open_.size() >= 4) {
    open_.erase(open_.begin());
  }
  store::Database* raw = db->get();
  open_[index] = std::move(*db);
  return raw;
}

absl::StatusOr<size_t> RecordStore::write(const std::vector<fwd::v1::Record>& records) {
  std::map<std::int64_t, std::vector<const fwd::v1::Record*>> by_month;
  for (const fwd::v1::Record& r : records) {
    by_month[monthIndex(TimeUtil::TimestampToMilliseconds(r.time()))].push_back(&r);
  }
  std::lock_guard<std::mutex> lock(mu_);
  size_t added = 0;
  for (const auto& [index, batch] : by_month) {
    absl::StatusOr<store::Database*> db = month(index, true);
    if (!db.ok()) {
      return db.status();
    }
    if (absl::Status s = (*db)->exec("BEGIN IMMEDIATE"); !s.ok()) {
      return s;
    }
    absl::Status failed;
    size_t month_added = 0;
    {
      absl::StatusOr<store::Statement> insert = (*db)->prepare(
          "INSERT OR IGNORE INTO records(id, time_ms, key_name, model, upstream, status, "
          "prompt_tokens, completion_tokens, cached_tokens, cost_nano_usd, priced, record) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
      if (!insert.ok()) {
        failed = insert.status();
      }
      for (size_t i = 0; failed.ok() && i < batch.size(); ++i) {
        const fwd::v1::Record& r = *batch[i];
        insert->reset()
            .bind(1, r.id())
            .bind(2, TimeUtil::TimestampToMilliseconds(r.time()))
            .bind(3, r.key_name())
            .bind(4, r.model())
            .bind(5, r.upstream())
            .bind(6, static_cast<std::int64_t>(r.status()))
            .bind(7, static_cast<std::int64_t>(r.prompt_tokens()))
            .bind(8, static_cast<std::int64_t>(r.completion_tokens()))
            .bind(9, static_cast<std::int64_t>(r.cached_tokens()))
            .bind(10, static_cast<std::int64_t>(r.cost_nano_usd()))
            .bind(11, static_cast<std::int64_t>(r.priced() ? 1 : 0))
            .bindBlob(12, r.SerializeAsString());
        failed = insert->run();
        if (failed.ok()) {
          month_added += static_cast<size_t>((*db)->changes());
        }
      }
    }
    if (!failed.ok()) {
      (void)(*db)->exec("ROLLBACK");
      return failed;
    }
    if (absl::Status s = (*db)->exec("COMMIT"); !s.ok()) {
      (void)(*db)->exec("ROLLBACK");
      return s;
    }
    added += month_added;
  }
  return added;
}

absl::Status RecordStore::eachRow(const Query& q, const std::string& sql, const RowFn& row) {
  const Where where = whereOf(q);
  const size_t at = sql.find("{where}");
  // A month the query covers whole is read by a scan of its table (or the key index): "+time_ms"
  // keeps SQLite from walking the time index and looking every row up from it, several times
  // slower over a month of records. A month covered in part walks the time index.
  const std::string ranged =
      sql.substr(0, at) + "WHERE time_ms >= ?1 AND time_ms < ?2" + where.sql + sql.substr(at + 7);
  const std::string whole =
      sql.substr(0, at) + "WHERE +time_ms >= ?1 AND +time_ms < ?2" + where.sql + sql.substr(at + 7);
  for (std::int64_t index : monthsOf(q)) {
    const bool covered = q.from_ms <= monthStartMs(index) &&
                         std::min(q.to_ms, kLastMs + 1) >= monthStartMs(index + 1);
    const std::string& full = covered ? whole : ranged;
    absl::StatusOr<store::Database*> db = month(index, false);
    if (!db.ok()) {
      return db.status();
    }
    if (*db == nullptr) {
      continue;
    }
    absl::StatusOr<store::Statement> st = (*db)->prepare(full);
    if (!st.ok()) {
      return st.status();
    }
    bindWhere(*st, q, where);
    for (;;) {
      absl::StatusOr<bool> stepped = st->step();
      if (!stepped.ok()) {
        return stepped.status();
      }
      if (!*stepped) {
        break;
      }
      absl::StatusOr<bool> more = row(*st, index);
      if (!more.ok()) {
        return more.status();
      }
      if (!*more) {
        return absl::OkStatus();
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<fwd::v1::Record>> RecordStore::recent(const Query& q) {
  std::lock_guard<std::mutex> lock(mu_);
  return recentLocked(q);
}

absl::StatusOr<std::vector<fwd::v1::Record>> RecordStore::recentLocked(const Query& q) {
  std::vector<fwd::v1::Record> out;
  if (q.limit == 0) {
    return out;
  }
  absl::Status s = eachRow(
      q,
      "SELECT record FROM records {where} ORDER BY time_ms DESC, rowid DESC LIMIT " +
          std::to_string(q.limit),
      [&](const store::Statement& row, std::int64_t index) -> absl::StatusOr<bool> {
        if (!out.emplace_back().ParseFromString(row.columnBlob(0))) {
          return absl::DataLossError("a record in " + nameOfMonth(index) + " does not parse");
        }
        return out.size() < q.limit;
      });
  if (!s.ok()) {
    return s;
  }
  return out;
}

absl::StatusOr<Page> RecordStore::oldestFirst(const Query& q, const std::string& token) {
  // "t:MONTH:TIME_MS:ROWID", the last record of the previous page.
  std::int64_t after_month = -1, after_time = 0, after_rowid = 0;
  if (!token.empty()) {
    std::vector<std::string> parts = absl::StrSplit(token, ':');
    if (parts.size() != 4 || parts[0] != "t" || !absl::SimpleAtoi(parts[1], &after_month) ||
        !absl::SimpleAtoi(parts[2], &after_time) || !absl::SimpleAtoi(parts[3], &after_rowid) ||
        after_month < 0) {
      return absl::InvalidArgumentError("page_token: not a token of an oldest-first listing");
    }
  }
  Page page;
  if (q.limit == 0) {
    return page;
  }
  const Where where = whereOf(q);
  const std::string cursor_at = std::to_string(3 + where.texts.size());
  const std::string rowid_at = std::to_string(4 + where.texts.size());
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::int64_t> months = monthsOf(q);
  std::reverse(months.begin(), months.end());
  std::int64_t last_month = 0, last_time = 0, last_rowid = 0;
  for (std::int64_t index : months) {
    if (index < after_month) {
      continue;
    }
    absl::StatusOr<store::Database*> db = month(index, false);
    if (!db.ok()) {
      return db.status();
    }
    if (*db == nullptr) {
      continue;
    }
    const bool resume = index == after_month;
    // The time index holds (time_ms, rowid): it gives this order without a sort.
    absl::StatusOr<store::Statement> st = (*db)->prepare(
        "SELECT rowid, time_ms, record FROM records WHERE time_ms >= ?1 AND time_ms < ?2" +
        where.sql +
        (resume ? " AND (time_ms > ?" + cursor_at + " OR (time_ms = ?" + cursor_at +
                      " AND rowid > ?" + rowid_at + "))"
                : std::string()) +
        " ORDER BY time_ms, rowid LIMIT " + std::to_string(q.limit - page.records.size()));
    if (!st.ok()) {
      return st.status();
    }
    bindWhere(*st, q, where);
    if (resume) {
      st->bind(static_cast<int>(3 + where.texts.size()), after_time)
          .bind(static_cast<int>(4 + where.texts.size()), after_rowid);
    }
    for (;;) {
      absl::StatusOr<bool> stepped = st->step();
      if (!stepped.ok()) {
        return stepped.status();
      }
      if (!*stepped) {
        break;
      }
      if (!page.records.emplace_back().ParseFromString(st->columnBlob(2))) {
        return absl::DataLossError("a record in " + nameOfMonth(index) + " does not parse");
      }
      last_month = index;
      last_rowid = st->columnInt(0);
      last_time = st->columnInt(1);
    }
    if (page.records.size() == q.limit) {
      page.next_token = absl::StrCat("t:", last_month, ":", last_time, ":", last_rowid);
      break;
    }
  }
  return page;
}

absl::StatusOr<Page> RecordStore::arrived(const Query& q, const std::string& token,
                                          std::int64_t now_ms) {
  // "a:MONTH=ROWID,MONTH=ROWID": the last rowid read in each followed month's file.
  std::map<std::int64_t, std::int64_t> after;
  if (!token.empty()) {
    bool ok = token.rfind("a:", 0) == 0;
    for (const std::string& part : std::vector<std::string>(
             absl::StrSplit(token.substr(ok ? 2 : 0), ',', absl::SkipEmpty()))) {
      std::pair<std::string, std::string> kv = absl::StrSplit(part, '=');
      std::int64_t m = 0, rowid = 0;
      ok = ok && absl::SimpleAtoi(kv.first, &m) && absl::SimpleAtoi(kv.second, &rowid) && m >= 0;
      after[m] = rowid;
    }
    if (!ok) {
      return absl::InvalidArgumentError("page_token: not a token of a following listing");
    }
  }
  const std::int64_t current = monthIndex(now_ms);
  Page page;
  std::lock_guard<std::mutex> lock(mu_);
  if (token.empty()) {
    absl::StatusOr<std::vector<fwd::v1::Record>> newest = recentLocked(q);
    if (!newest.ok()) {
      return newest.status();
    }
    page.records.assign(std::make_move_iterator(newest->rbegin()),
                        std::make_move_iterator(newest->rend()));
  }
  const Where where = whereOf(q, /*no_index=*/true);
  const std::string rowid_at = std::to_string(3 + where.texts.size());
  std::string next = "a:";
  for (std::int64_t index = current - 1; index <= current; ++index) {
    absl::StatusOr<store::Database*> db = month(index, false);
    if (!db.ok()) {
      return db.status();
    }
    std::int64_t last = after.count(index) != 0 ? after[index] : 0;
    if (*db != nullptr && token.empty()) {
      absl::StatusOr<store::Statement> st = (*db)->prepare("SELECT MAX(rowid) FROM records");
      if (!st.ok()) {
        return st.status();
      }
      absl::StatusOr<bool> stepped = st->step();
      if (!stepped.ok()) {
        return stepped.status();
      }
      last = *stepped ? st->columnInt(0) : 0;
    } else if (*db != nullptr && page.records.size() < q.limit) {
      absl::StatusOr<store::Statement> st = (*db)->prepare(
          "SELECT rowid, record FROM records WHERE +time_ms >= ?1 AND +time_ms < ?2" + where.sql +
          " AND rowid > ?" + rowid_at + " ORDER BY rowid LIMIT " +
          std::to_string(q.limit - page.records.size()));
      if (!st.ok()) {
        return st.status();
      }
      bindWhere(*st, q, where);
      st->bind(static_cast<int>(3 + where.texts.size()), last);
      for (;;) {
        absl::StatusOr<bool> stepped = st->step();
        if (!stepped.ok()) {
          return stepped.status();
        }
        if (!*stepped) {
          break;
        }
        if (!page.records.emplace_back().ParseFromString(st->columnBlob(1))) {
          return absl::DataLossError("a record in " + nameOfMonth(index) + " does not parse");
        }
        last = st->columnInt(0);
      }
    }
    absl::StrAppend(&next, index == current - 1 ? "" : ",", index, "=", last);
  }
  page.next_token = std::move(next);
  return page;
}

absl::StatusOr<std::vector<UsageRow>> RecordStore::usage(const Query& q, GroupBy by) {
  std::map<std::string, UsageRow> groups;
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status s = eachRow(
      q,
      std::string("SELECT ") + groupExpr(by) +
          ", COUNT(*), SUM(status >= 400), SUM(prompt_tokens), SUM(completion_tokens), "
          "SUM(cached_tokens), SUM(cost_nano_usd), "
          "SUM(priced = 0 AND prompt_tokens + completion_tokens > 0) FROM records {where} "
          "GROUP BY 1",
      [&](const store::Statement& row, std::int64_t) -> absl::StatusOr<bool> {
        std::string group = row.columnText(0);
        UsageRow& g = groups[group];
        g.group = std::move(group);
        auto u = [&](int column) { return static_cast<std::uint64_t>(row.columnInt(column)); };
        g.requests += u(1);
        g.errors += u(2);
        g.prompt_tokens += u(3);
        g.completion_tokens += u(4);
        g.cached_tokens += u(5);
        g.cost_nano_usd += u(6);
        g.unpriced_requests += u(7);
        return true;
      });
  if (!s.ok()) {
    return s;
  }
  std::vector<UsageRow> out;
  out.reserve(groups.size());
  for (auto& [group, row] : groups) {
    out.push_back(std::move(row));
  }
  return out;
}

}  // namespace fwd::controlplane::records
