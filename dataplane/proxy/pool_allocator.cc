#include "dataplane/proxy/pool_allocator.h"

#include <array>
#include <new>

namespace fwd::dataplane::proxy::pool {
namespace {

constexpr std::size_t kMinClassBytes = 32;
constexpr std::size_t kClasses = 6;  // 32, 64, 128, 256, 512, 1024
constexpr std::size_t kMaxCached = 1024;

struct FreeBlock {
  FreeBlock* next;
};

struct ThreadCache {
  std::array<FreeBlock*, kClasses> heads{};
  std::array<std::size_t, kClasses> counts{};

  ~ThreadCache() {
    for (std::size_t c = 0; c < kClasses; ++c) {
      while (heads[c] != nullptr) {
        FreeBlock* b = heads[c];
        heads[c] = b->next;
        ::operator delete(b);
      }
    }
  }
};

thread_local ThreadCache t_cache;

// The class index for `bytes`, or kClasses when it is too large to pool.
std::size_t classOf(std::size_t bytes) {
  std::size_t size = kMinClassBytes;
  for (std::size_t c = 0; c < kClasses; ++c, size <<= 1) {
    if (bytes <= size) {
      return c;
    }
  }
  return kClasses;
}

}  // namespace

void* allocate(std::size_t bytes) {
  std::size_t c = classOf(bytes);
  if (c == kClasses) {
    return ::operator new(bytes);
  }
  if (FreeBlock* b = t_cache.heads[c]) {
    t_cache.heads[c] = b->next;
    --t_cache.counts[c];
    return b;
  }
  return ::operator new(kMinClassBytes << c);
}

void deallocate(void* p, std::size_t bytes) noexcept {
  if (p == nullptr) {
    return;
  }
  std::size_t c = classOf(bytes);
  if (c == kClasses || t_cache.counts[c] >= kMaxCached) {
    ::operator delete(p);
    return;
  }
  auto* b = static_cast<FreeBlock*>(p);
  b->next = t_cache.heads[c];
  t_cache.heads[c] = b;
  ++t_cache.counts[c];
}

std::size_t cachedBlocks() {
  std::size_t n = 0;
  for (std::size_t count : t_cache.counts) {
    n += count;
  }
  return n;
}

}  // namespace fwd::dataplane::proxy::pool
