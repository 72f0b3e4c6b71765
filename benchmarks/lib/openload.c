// An open-model (fixed arrival rate) HTTP/1.1 load generator for benchmarks/latency.mjs: request k is due
// at start + k / rate whatever happened to the earlier ones, and its latency counts from that due time
// (no coordinated omission: a stalled proxy delays the requests queued behind it, and that shows).
// Keep-alive connections, one request in flight on each; a due request with no idle connection waits
// for one (and that wait is part of its latency). Debian has no wrk2; this is the smallest thing that does
// the job. Built by latency.mjs with `cc -O2`; prints one JSON line.
//
// usage: openload <host-ip> <port> <path> <rate/s> <warmup s> <seconds> <connections> [header: value]...
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536

typedef struct {
  int fd;
  int busy;
  uint64_t due;  // due time of the request in flight (ns)
  size_t len;    // bytes buffered
  char buf[BUF];
} conn_t;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static void die(const char *what) {
  fprintf(stderr, "openload: %s: %s\n", what, strerror(errno));
  exit(2);
}

static char req[8192];
static size_t req_len;
static struct sockaddr_in addr;

static int open_conn(int ep, conn_t *c, int idx) {
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (c->fd < 0) die("socket");
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)idx};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
  c->busy = 0;
  c->len = 0;
  return 0;
}

static void send_req(conn_t *c, uint64_t due) {
  ssize_t n = write(c->fd, req, req_len);
  if (n != (ssize_t)req_len) die("write");
  c->busy = 1;
  c->due = due;
}

/** Complete response in c->buf: its length, 0 if incomplete, -1 if not parseable. *status set. */
static long response_len(conn_t *c, int *status) {
  c->buf[c->len] = 0;
  char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
  if (!end) return 0;
  if (c->len < 12 || strncmp(c->buf, "HTTP/1.", 7) != 0) return -1;
  *status = atoi(c->buf + 9);
  long cl = -1;
  for (char *p = strstr(c->buf, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n")) {
    if (strncasecmp(p + 2, "content-length:", 15) == 0) cl = atol(p + 17);
  }
  if (cl < 0) return -1;  // the targets all answer with content-length
  long total = (end + 4 - c->buf) + cl;
  return (long)c->len >= total ? total : 0;
}

int main(int argc, char **argv) {
  if (argc < 8) {
    fprintf(stderr, "usage: openload <ip> <port> <path> <rate> <warmup-s> <seconds> <connections> [header: value]...\n");
    return 2;
  }
  const char *ip = argv[1];
  int port = atoi(argv[2]);
  const char *path = argv[3];
  double rate = atof(argv[4]);
  double warmup = atof(argv[5]);
  double seconds = atof(argv[6]);
  int nconn = atoi(argv[7]);
  int off = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n", path, ip, port);
  for (int i = 8; i < argc; i++) off += snprintf(req + off, sizeof req - off, "%s\r\n", argv[i]);
  off += snprintf(req + off, sizeof req - off, "\r\n");
  req_len = (size_t)off;
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, ip, &addr.sin_addr);

  int ep = epoll_create1(0);
  conn_t *conns = calloc((size_t)nconn, sizeof(conn_t));
  for (int i = 0; i < nconn; i++) open_conn(ep, &conns[i], i);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  struct epoll_event tev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
  epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);

  uint64_t interval = (uint64_t)(1e9 / rate);
  uint64_t total_reqs = (uint64_t)((warmup + seconds) * rate);
  uint64_t warm_reqs = (uint64_t)(warmup * rate);
  uint32_t *lat = malloc(sizeof(uint32_t) * (total_reqs + 1));  // µs×10 (0.1 µs units), measured part
  uint64_t nlat = 0, errors = 0, sent = 0, done = 0, max_backlog = 0;
  // A target that cannot keep up (a backlog of a second's worth of requests) is reported as overloaded
  // instead of being driven for minutes: an open-model queue only grows.
  int overloaded = 0;
  uint64_t backlog_limit = (uint64_t)rate > 1000 ? (uint64_t)rate : 1000;
  // Due requests with no idle connection: only their due times, FIFO.
  uint64_t *backlog = malloc(sizeof(uint64_t) * (total_reqs + 1));
  uint64_t bl_head = 0, bl_tail = 0;
  int *idle = malloc(sizeof(int) * (size_t)nconn);
  int nidle = nconn;
  for (int i = 0; i < nconn; i++) idle[i] = nconn - 1 - i;
  uint64_t start = now_ns() + 10000000ull;  // 10 ms from now
  uint64_t measure_from = start + warm_reqs * interval;
  uint64_t next_due = start;
  struct epoll_event evs[256];

  while (done < total_reqs && !overloaded) {
    uint64_t t = now_ns();
    // Everything due by now: to an idle connection or to the backlog.
    while (sent < total_reqs && next_due <= t) {
      if (nidle > 0) send_req(&conns[idle[--nidle]], next_due);
      else {
        backlog[bl_tail++] = next_due;
        if (bl_tail - bl_head > max_backlog) max_backlog = bl_tail - bl_head;
        if (bl_tail - bl_head > backlog_limit) {
          overloaded = 1;
          break;
        }
      }
      sent++;
      next_due = start + sent * interval;
    }
    if (sent < total_reqs) {
      struct itimerspec its = {0};
      its.it_value.tv_sec = (time_t)(next_due / 1000000000ull);
      its.it_value.tv_nsec = (long)(next_due % 1000000000ull);
      timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
    }
    int n = epoll_wait(ep, evs, 256, 5000);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    if (n == 0) {
      fprintf(stderr, "openload: no response for 5 s (%llu of %llu done)\n", (unsigned long long)done, (unsigned long long)total_reqs);
      return 1;
    }
    for (int i = 0; i < n; i++) {
      if (evs[i].data.u64 == UINT64_MAX) {
        uint64_t x;
        if (read(tfd, &x, sizeof x) < 0 && errno != EAGAIN) die("timerfd");
        continue;
      }
      int ci = (int)evs[i].data.u64;
      conn_t *c = &conns[ci];
      ssize_t r = read(c->fd, c->buf + c->len, BUF - 1 - c->len);
      if (r <= 0) {
        fprintf(stderr, "openload: connection closed by the server\n");
        return 1;
      }
      c->len += (size_t)r;
      int status = 0;
      long total = response_len(c, &status);
      if (total < 0) {
        fprintf(stderr, "openload: unparseable response\n");
        return 1;
      }
      if (total == 0) continue;
      uint64_t fin = now_ns();
      if (status < 200 || status > 299) errors++;
      if (c->due >= measure_from) {
        uint64_t d = (fin - c->due) / 100;
        lat[nlat++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
      }
      done++;
      memmove(c->buf, c->buf + total, c->len - (size_t)total);
      c->len -= (size_t)total;
      c->busy = 0;
      if (bl_head < bl_tail) send_req(c, backlog[bl_head++]);
      else idle[nidle++] = ci;
    }
  }
  qsort(lat, nlat, sizeof(uint32_t), cmp_u32);
#define PCT(p) (nlat ? lat[(size_t)((double)(nlat - 1) * (p))] / 10.0 : 0.0)
  double secs = (double)(now_ns() - measure_from) / 1e9;
  printf("{\"overloaded\":%s,\"rate\":%.0f,\"requests\":%llu,\"seconds\":%.3f,\"errors\":%llu,\"max_backlog\":%llu,"
         "\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f}}\n",
         overloaded ? "true" : "false", rate, (unsigned long long)nlat, secs, (unsigned long long)errors, (unsigned long long)max_backlog, PCT(0.5), PCT(0.9), PCT(0.99),
         PCT(0.999), nlat ? lat[nlat - 1] / 10.0 : 0.0);
  return 0;
}
