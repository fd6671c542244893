#include <curl/curl.h>

/* curl_easy_setopt, curl_easy_getinfo and curl_multi_setopt are variadic,
   which Swift cannot call: these typed wrappers are the only way in. */
static inline CURLcode pipeline_curl_setopt_long(CURL *handle, CURLoption option, long value) {
  return curl_easy_setopt(handle, option, value);
}
static inline CURLcode pipeline_curl_setopt_pointer(CURL *handle, CURLoption option, const void *value) {
  return curl_easy_setopt(handle, option, value);
}
static inline CURLcode pipeline_curl_setopt_offset(CURL *handle, CURLoption option, curl_off_t value) {
  return curl_easy_setopt(handle, option, value);
}
typedef size_t (*pipeline_curl_write_fn)(char *data, size_t size, size_t count, void *user);
static inline CURLcode pipeline_curl_setopt_write(CURL *handle, CURLoption option, pipeline_curl_write_fn fn) {
  return curl_easy_setopt(handle, option, fn);
}
static inline CURLcode pipeline_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
  return curl_easy_getinfo(handle, info, value);
}
static inline CURLcode pipeline_curl_getinfo_pointer(CURL *handle, CURLINFO info, void **value) {
  return curl_easy_getinfo(handle, info, value);
}
static inline CURLMcode pipeline_curl_multi_setopt_long(CURLM *multi, CURLMoption option, long value) {
  return curl_multi_setopt(multi, option, value);
}
static inline CURLcode pipeline_curl_getinfo_offset(CURL *handle, CURLINFO info, curl_off_t *value) {
  return curl_easy_getinfo(handle, info, value);
}

/* The multi interface driven by events (curl_multi_socket_action): libcurl
   says which sockets it waits on and for how long, the engine waits for
   them with epoll. Cost per event stays flat however many transfers are in
   flight, where curl_multi_poll walks every socket on every wakeup. */
typedef int (*pipeline_curl_socket_fn)(CURL *easy, curl_socket_t socket, int what, void *user, void *socket_user);
typedef int (*pipeline_curl_timer_fn)(CURLM *multi, long timeout_ms, void *user);
static inline CURLMcode pipeline_curl_multi_setopt_socket_fn(CURLM *multi, pipeline_curl_socket_fn fn) {
  return curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, fn);
}
static inline CURLMcode pipeline_curl_multi_setopt_timer_fn(CURLM *multi, pipeline_curl_timer_fn fn) {
  return curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, fn);
}
static inline CURLMcode pipeline_curl_multi_setopt_pointer(CURLM *multi, CURLMoption option, void *value) {
  return curl_multi_setopt(multi, option, value);
}

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* epoll_event is packed on x86-64; these keep its layout out of Swift. */
static inline int pipeline_epoll_set(int epoll, int op, int fd, int readable, int writable) {
  struct epoll_event event = {0};
  event.events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
  event.data.fd = fd;
  return epoll_ctl(epoll, op, fd, &event);
}
/* Waits; writes each ready descriptor and its libcurl CURL_CSELECT_* mask. */
static inline int pipeline_epoll_wait(int epoll, int *fds, int *masks, int capacity, int timeout_ms) {
  struct epoll_event events[256];
  if (capacity > 256) capacity = 256;
  int count = epoll_wait(epoll, events, capacity, timeout_ms);
  for (int i = 0; i < count; i++) {
    fds[i] = events[i].data.fd;
    masks[i] = ((events[i].events & (EPOLLIN | EPOLLHUP)) ? CURL_CSELECT_IN : 0)
             | ((events[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0)
             | ((events[i].events & EPOLLERR) ? CURL_CSELECT_ERR : 0);
  }
  return count;
}
