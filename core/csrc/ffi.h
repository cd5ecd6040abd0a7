// What the C++ side of figs shares at its C boundary: errors cross as malloc'd strings
// (freed by figs_free_error, in batch_norm_cl.cpp), never as exceptions.
#pragma once

#include <cstdlib>
#include <cstring>

namespace figs_ffi {

inline char* error_copy(const char* what) {
  const size_t len = std::strlen(what);
  char* s = static_cast<char*>(std::malloc(len + 1));
  if (s) std::memcpy(s, what, len + 1);
  return s;
}

// Runs f, returning nullptr, or the message of what it threw.
template <typename F>
char* guarded(F f) {
  try {
    f();
    return nullptr;
  } catch (const std::exception& e) {
    return error_copy(e.what());
  } catch (...) {
    return error_copy("unknown C++ exception");
  }
}

}  // namespace figs_ffi
