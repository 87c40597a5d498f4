/*
 * chatload.c -- trio-chat's own IRC load generator.
 *
 * One thread, one epoll set, non-blocking sockets, libc (Linux) and, for --tls,
 * OpenSSL: non-blocking SSL objects over the same sockets and the same loop.
 *
 *   1. connect --clients N sockets to 127.0.0.1:PORT, at most --batch of them
 *      in progress at a time; each registers (NICK/USER, waits for 001; a 43x
 *      nick error is answered with another nick), JOINs --channel and is ready
 *      at 366 (end of NAMES).  PING is answered with PONG at any time.
 *   2. measure, one of:
 *        fullspeed  clients 0..S-1 send M PRIVMSGs each, as fast as a window
 *                   allows: a sender holds while W messages' worth of its
 *                   deliveries (W x receivers) are outstanding;
 *        paced      (--rate R) the S x M messages go out round-robin at R
 *                   messages/s in total (open loop);
 *        idle       (--idle N) N members; client 0 sends K probes one at a
 *                   time and we time how long each takes to reach everyone.
 *   3. every PRIVMSG body is  "%<run>.<sender>.<seq>.<t_ns>."  padded to
 *      --size bytes, <t_ns> being CLOCK_MONOTONIC at send time; receivers
 *      count unique deliveries (bitmap per receiver x sender x seq), duplicates,
 *      out-of-order arrivals (per receiver x sender high-water mark), and the
 *      latency (log-linear histogram, 64 sub-buckets per octave).
 *   4. one JSON line on stdout (field names compatible with ../shared/bench's
 *      ircload where the meaning is the same), then every socket is reset.
 *
 * --tls: every client speaks TLS (1.2 or later) on the connection; the rest
 * (registration, workloads, counting, the report) is the same.  No certificate
 * or host name verification: this is loopback benchmarking against a throwaway
 * self-signed certificate, never a client for a real network.
 *
 * --host2 ADDR:PORT (two nodes of one network, e.g. a trio-chat cluster): every
 * odd-numbered client connects there instead, the even ones to --host/--port.
 * Senders are then on both nodes, and the report adds the latency of deliveries
 * that crossed from one node to the other ("lat_cross_us") and of those that did
 * not ("lat_same_us").  --cpu-pid PID (repeatable) reads more processes' CPU
 * time over the same phases as --server-pid (the nodes, the Redis between them).
 *
 * Build: make -C benchmarks/loadgen     (gcc -O2 ... -lssl -lcrypto)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define CHATLOAD_VERSION "1.2"

/* ---------------------------------------------------------------- options */
#define MAX_CPU_PIDS 8

static struct {
    const char *host, *host2, *label, *channel, *prefix;
    int port, port2, npids, pids[MAX_CPU_PIDS], clients, senders, msgs, window, size, batch, idle, probes, pid, verbose, nodelay, tls;
    double rate, timeout, reg_timeout, drain, probe_gap_ms;
} opt = {
    .host = "127.0.0.1", .host2 = NULL, .label = "server", .channel = "#bench", .prefix = "cl",
    .port = 6667, .port2 = 0, .npids = 0, .clients = 100, .senders = 10, .msgs = 1000, .window = -1, .size = 64,
    .batch = 50, .idle = 0, .probes = 20, .pid = 0, .verbose = 0, .nodelay = 1, .tls = 0,
    .rate = 0, .timeout = 60, .reg_timeout = 120, .drain = 5, .probe_gap_ms = 100,
};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("chatload: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void note(const char *fmt, ...) {
    if (!opt.verbose) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("chatload: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* -------------------------------------------------------------- histogram */
/* Values in microseconds.  v < 128 has its own bucket; above, an octave
 * [2^e, 2^(e+1)) is split into 64 equal buckets: <= 1/64 relative width. */
#define HBUCKETS 4096
typedef struct {
    uint64_t b[HBUCKETS], n, max;
    double sum;
} histo_t;
static histo_t hist;                  /* every delivery */
static histo_t hist_cross, hist_same; /* --host2: deliveries between the two nodes / within one */

static inline unsigned hbucket(uint64_t v) {
    if (v < 128) return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    return ((e - 6u) << 6) + (unsigned)(v >> (e - 6u));
}
static uint64_t hvalue(unsigned b) { /* middle of bucket b */
    if (b < 128) return b;
    unsigned e = (b >> 6) + 5u;             /* inverse of hbucket */
    uint64_t lo = (uint64_t)(64u + (b & 63u)) << (e - 6u);
    return lo + ((1ull << (e - 6u)) >> 1);
}
static inline void hrecord(histo_t *h, uint64_t v) {
    h->b[hbucket(v)]++;
    h->n++;
    h->sum += (double)v;
    if (v > h->max) h->max = v;
}
static uint64_t hpercentile(const histo_t *h, double q) {
    if (!h->n) return 0;
    uint64_t want = (uint64_t)(q * (double)h->n);
    if (want >= h->n) want = h->n - 1;
    uint64_t acc = 0;
    for (unsigned b = 0; b < HBUCKETS; b++) {
        acc += h->b[b];
        if (acc > want) { uint64_t v = hvalue(b); return v > h->max ? h->max : v; }
    }
    return h->max;
}

/* ------------------------------------------------------------ connections */
enum { S_FREE, S_CONNECTING, S_REGISTERING, S_JOINING, S_READY, S_CLOSED };

typedef struct {
    int fd;
    int state;
    int nick_try;
    int out_armed;
    char *carry;            /* partial line kept between reads */
    uint32_t carry_len, carry_cap;
    char *out;              /* pending output */
    uint32_t out_off, out_len, out_cap;
    SSL *ssl;               /* --tls only */
    uint8_t hs_done;        /* TLS handshake finished */
    uint8_t hs_want_write;  /* the handshake waits for the socket to be writable */
    uint8_t rd_want_write;  /* the last SSL_read wants the socket writable (retry it on EPOLLOUT) */
    uint8_t wr_want_read;   /* the last SSL_write wants the socket readable (retry it on EPOLLIN) */
    uint8_t wr_want_write;  /* the last SSL_write wants the socket writable */
    uint8_t backlogged;     /* on tls_backlog: decrypted data waits inside the SSL object */
} client_t;

static client_t *cl;
static int epfd;
static struct sockaddr_in addr, addr2; /* addr2: --host2, the odd-numbered clients */

/* counters */
static int n_joined, n_started, n_inprog, n_conn_fail, n_registered, n_ready, n_closed, n_nick_retries, n_dropped;
static uint64_t received, dups, ooo, self_echo, foreign, lines_rx, bytes_rx, reads_run, reads_all, sent;
static uint64_t ssl_reads_run, ssl_reads_all, tls_backlog_visits;
static char first_error[256];

/* TLS */
static SSL_CTX *ssl_ctx;
static char tls_version[32], tls_cipher[96];
static int *tls_backlog, n_backlog; /* clients whose SSL object holds data epoll cannot see */

/* workload state */
static int nsend, nmsg, window;
static uint32_t run_tag;
static uint64_t fanout, expected, total_msgs;
static uint32_t *next_seq;     /* per sender */
static uint64_t *rx_of;        /* per sender: deliveries received by anyone */
static uint8_t *seen;          /* receiver x sender x seq bitmap */
static int32_t *hiwater;       /* receiver x sender */
static int measuring;
static uint64_t t0, t_reg, t_run, t_end, t_last_rx, t_all_sent;
static volatile sig_atomic_t interrupted;

/* idle probes */
static int probe_cur = -1, probes_done;
static uint64_t probe_t, probe_next, probe_hits;
static uint64_t *probe_done_us, *probe_reach;

static void first_err(const char *s, size_t n) {
    if (first_error[0]) return;
    if (n >= sizeof first_error) n = sizeof first_error - 1;
    memcpy(first_error, s, n);
    first_error[n] = 0;
}

static void set_out(client_t *c, int on) {
    if (c->out_armed == on) return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.u32 = (uint32_t)(c - cl)};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->out_armed = on;
}

static void drop(client_t *c, const char *why) {
    if (c->fd < 0) return;
    if (why && why[0]) first_err(why, strlen(why));
    if (c->ssl) { /* no close_notify: the socket is reset, as in plaintext */
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    struct linger lg = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(c->fd);
    c->fd = -1;
    if (c->state >= S_CONNECTING && c->state < S_READY) n_inprog--;
    if (c->state == S_READY) n_ready--;
    c->state = S_CLOSED;
    n_closed++;
}

static void out_reserve(client_t *c, uint32_t n) {
    if (c->out_off && c->out_off == c->out_len) c->out_off = c->out_len = 0;
    if (c->out_len + n <= c->out_cap) return;
    if (c->out_off) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
        if (c->out_len + n <= c->out_cap) return;
    }
    uint32_t cap = c->out_cap ? c->out_cap : 512;
    while (cap < c->out_len + n) cap *= 2;
    c->out = realloc(c->out, cap);
    if (!c->out) fatal("out of memory");
    c->out_cap = cap;
}
static inline void put(client_t *c, const void *p, uint32_t n) {
    out_reserve(c, n);
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}
static void putf(client_t *c, const char *fmt, ...) {
    char tmp[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) put(c, tmp, (uint32_t)(n < (int)sizeof tmp ? n : (int)sizeof tmp - 1));
}
/* ------------------------------------------------------------------- TLS */
/* Non-blocking SSL over the same level-triggered epoll set.  Any SSL call may
 * need the socket readable or writable, whichever way the data goes: a read can
 * want to write (SSL_ERROR_WANT_WRITE) and a write can want to read
 * (SSL_ERROR_WANT_READ).  Each client remembers what its last handshake, read
 * and write step waits for; EPOLLOUT is armed while any of them waits for
 * writability (EPOLLIN always is), and the event loop retries the read on
 * EPOLLOUT when it wanted to write, the write on EPOLLIN when it wanted to read.
 * A blocked SSL_write is retried with the same start of the buffer and at least
 * the same length: the output buffer only grows while it waits
 * (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER allows realloc/memmove of it). */

static void tls_interest(client_t *c) {
    if (c->fd >= 0) set_out(c, c->hs_want_write || c->rd_want_write || c->wr_want_write);
}

static void tls_fail(client_t *c, const char *what, int err, int saved_errno) {
    char msg[256];
    unsigned long e = ERR_get_error();
    if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && !e && !saved_errno))
        snprintf(msg, sizeof msg, "%s", c->state == S_READY ? "server closed the connection"
                                                            : "server closed the connection before the client was ready");
    else if (e) {
        char b[200];
        ERR_error_string_n(e, b, sizeof b);
        snprintf(msg, sizeof msg, "%s: %s", what, b);
    } else if (err == SSL_ERROR_SYSCALL)
        snprintf(msg, sizeof msg, "%s: %s", what, strerror(saved_errno));
    else
        snprintf(msg, sizeof msg, "%s: SSL error %d", what, err);
    ERR_clear_error();
    drop(c, msg);
}

/* 1 = handshake done, 0 = in progress (interest set), -1 = failed (client dropped) */
static int tls_handshake(client_t *c) {
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->hs_done = 1;
        c->hs_want_write = 0;
        if (!tls_version[0]) {
            snprintf(tls_version, sizeof tls_version, "%s", SSL_get_version(c->ssl));
            snprintf(tls_cipher, sizeof tls_cipher, "%s", SSL_get_cipher_name(c->ssl));
        }
        tls_interest(c);
        return 1;
    }
    int saved = errno, err = SSL_get_error(c->ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        c->hs_want_write = err == SSL_ERROR_WANT_WRITE;
        tls_interest(c);
        return 0;
    }
    n_conn_fail++; /* connected_ok counts TLS sessions established */
    tls_fail(c, "TLS handshake", err, saved);
    return -1;
}

static void tls_flush(client_t *c) {
    if (!c->hs_done && tls_handshake(c) <= 0) return; /* output stays queued until the handshake is done */
    while (c->fd >= 0 && c->out_off < c->out_len) {
        uint32_t n = c->out_len - c->out_off;
        ERR_clear_error();
        int k = SSL_write(c->ssl, c->out + c->out_off, (int)(n < (1u << 30) ? n : (1u << 30)));
        if (k > 0) { c->out_off += (uint32_t)k; continue; }
        int saved = errno, err = SSL_get_error(c->ssl, k);
        if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
            c->wr_want_write = err == SSL_ERROR_WANT_WRITE;
            c->wr_want_read = err == SSL_ERROR_WANT_READ;
            tls_interest(c);
            return;
        }
        tls_fail(c, "SSL_write", err, saved);
        return;
    }
    if (c->fd >= 0) {
        c->out_off = c->out_len = 0;
        c->wr_want_write = c->wr_want_read = 0;
        tls_interest(c);
    }
}

static void flush(client_t *c) {
    if (c->ssl) { tls_flush(c); return; }
    while (c->fd >= 0 && c->out_off < c->out_len) {
        ssize_t k = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0) { c->out_off += (uint32_t)k; continue; }
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { set_out(c, 1); return; }
        if (k < 0 && errno == EINTR) continue;
        drop(c, k < 0 ? strerror(errno) : "send returned 0");
        return;
    }
    if (c->fd >= 0) {
        c->out_off = c->out_len = 0;
        set_out(c, 0);
    }
}
static inline uint32_t pending(const client_t *c) { return c->out_len - c->out_off; }

static void nick(client_t *c) {
    int id = (int)(c - cl);
    if (c->nick_try) putf(c, "NICK %s%d_%d\r\n", opt.prefix, id, c->nick_try);
    else putf(c, "NICK %s%d\r\n", opt.prefix, id);
}

static void start(client_t *c) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) fatal("socket: %s (raise ulimit -n?)", strerror(errno));
    if (opt.nodelay) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    c->fd = fd;
    c->state = S_CONNECTING;
    n_inprog++;
    n_started++;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)(c - cl)};
    c->out_armed = 1;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) fatal("epoll_ctl: %s", strerror(errno));
    const struct sockaddr_in *to = (opt.host2 && ((c - cl) & 1)) ? &addr2 : &addr;
    if (connect(fd, (const struct sockaddr *)to, sizeof *to) < 0 && errno != EINPROGRESS) {
        n_conn_fail++;
        drop(c, strerror(errno));
    }
}

static void connected(client_t *c) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) { n_conn_fail++; drop(c, strerror(err)); return; }
    c->state = S_REGISTERING;
    if (opt.tls) { /* the handshake starts in flush() below; NICK/USER wait in c->out until it is done */
        c->ssl = SSL_new(ssl_ctx);
        if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) fatal("SSL_new/SSL_set_fd failed");
        SSL_set_connect_state(c->ssl);
    }
    nick(c);
    putf(c, "USER u%d 0 * :chatload %d\r\n", (int)(c - cl), (int)(c - cl));
    flush(c);
}

/* ------------------------------------------------------------- receiving */
static inline const char *num(const char *p, const char *e, uint64_t *v) {
    uint64_t x = 0;
    const char *s = p;
    while (p < e && (unsigned)(*p - '0') < 10u) x = x * 10 + (uint64_t)(*p++ - '0');
    *v = x;
    return (p == s || p >= e || *p != '.') ? NULL : p + 1;
}

static void delivery(int rcv, const char *p, const char *e, uint64_t now) {
    uint64_t tag, sid, seq, ts;
    if (p >= e || *p != '%' ||
        !(p = num(p + 1, e, &tag)) || !(p = num(p, e, &sid)) || !(p = num(p, e, &seq)) || !(p = num(p, e, &ts)) ||
        tag != run_tag || sid >= (uint64_t)nsend || seq >= (uint64_t)nmsg) {
        foreign++;
        return;
    }
    if ((int)sid == rcv) { self_echo++; return; }
    size_t pair = (size_t)rcv * (size_t)nsend + sid;
    if (seen) {
        size_t bit = pair * (size_t)nmsg + seq;
        uint8_t m = (uint8_t)(1u << (bit & 7));
        if (seen[bit >> 3] & m) { dups++; return; }
        seen[bit >> 3] |= m;
    }
    if ((int32_t)seq < hiwater[pair]) ooo++;
    else hiwater[pair] = (int32_t)seq;
    received++;
    rx_of[sid]++;
    t_last_rx = now;
    uint64_t us = now > ts ? (now - ts) / 1000 : 0;
    hrecord(&hist, us);
    if (opt.host2) hrecord(((int)sid & 1) != (rcv & 1) ? &hist_cross : &hist_same, us);
    if (opt.idle && (int)seq == probe_cur) {
        probe_hits++;
        probe_reach[seq]++;
        if (us > probe_done_us[seq]) probe_done_us[seq] = us;
    }
}

static void line(client_t *c, char *s, char *e, uint64_t now) {
    lines_rx++;
    if (e > s && e[-1] == '\r') e--;
    if (*s == '@') { /* message tags */
        char *sp = memchr(s, ' ', (size_t)(e - s));
        if (!sp) return;
        s = sp + 1;
    }
    if (s < e && *s == ':') {
        char *sp = memchr(s, ' ', (size_t)(e - s));
        if (!sp) return;
        s = sp + 1;
    }
    /* hot path: "PRIVMSG <target> :<body>" */
    if (e - s > 8 && !memcmp(s, "PRIVMSG ", 8)) {
        char *sp = memchr(s + 8, ' ', (size_t)(e - s - 8));
        if (!sp) { foreign++; return; }
        sp++;
        if (sp < e && *sp == ':') sp++;
        delivery((int)(c - cl), sp, e, now);
        return;
    }
    if (e - s >= 4 && !memcmp(s, "PING", 4)) {
        put(c, "PONG", 4);
        put(c, s + 4, (uint32_t)(e - s - 4));
        put(c, "\r\n", 2);
        flush(c);
        return;
    }
    if (e - s >= 5 && !memcmp(s, "ERROR", 5)) { first_err(s, (size_t)(e - s)); return; }
    if (e - s >= 3 && (unsigned)(s[0] - '0') < 10u && (unsigned)(s[1] - '0') < 10u && (unsigned)(s[2] - '0') < 10u &&
        (e - s == 3 || s[3] == ' ')) {
        int code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
        if (code == 1 && c->state == S_REGISTERING) {
            c->state = S_JOINING;
            n_registered++;
            putf(c, "JOIN %s\r\n", opt.channel);
            flush(c);
        } else if (code == 366 && c->state == S_JOINING) {
            c->state = S_READY;
            n_inprog--;
            n_ready++;
        } else if ((code == 432 || code == 433 || code == 436 || code == 437) && c->state == S_REGISTERING) {
            n_nick_retries++;
            if (++c->nick_try > 40) { drop(c, "no acceptable nick after 40 tries"); return; }
            nick(c);
            flush(c);
        } else if (code >= 400 && c->state == S_JOINING &&
                   (code == 403 || code == 405 || code == 471 || code == 473 || code == 474 || code == 475 ||
                    code == 477 || code == 489)) {
            first_err(s, (size_t)(e - s));
            drop(c, NULL);
        } else if (code == 464 || code == 465) {
            first_err(s, (size_t)(e - s));
        }
    }
}

#ifndef RBUF /* -DRBUF=4096 to exercise the short-read and TLS backlog paths */
#define RBUF (1u << 20)
#endif
static char rbuf[RBUF + 1];

/* Lines in rbuf[0 .. keep+n) (keep = the carried partial line); the new partial
 * line goes back to c->carry.  One call is one "read" in the report.  Returns 0
 * when the client was dropped on the way. */
static int consume(client_t *c, uint32_t keep, size_t n) {
    uint64_t now = now_ns();
    bytes_rx += (uint64_t)n;
    reads_all++;
    if (measuring) reads_run++;
    char *s = rbuf, *end = rbuf + keep + n, *nl;
    while ((nl = memchr(s, '\n', (size_t)(end - s))) != NULL) {
        line(c, s, nl, now);
        if (c->fd < 0) return 0;
        s = nl + 1;
    }
    uint32_t rest = (uint32_t)(end - s);
    if (rest > 65536) rest = 0; /* a line this long is garbage: drop it */
    if (rest > c->carry_cap) {
        c->carry = realloc(c->carry, rest);
        if (!c->carry) fatal("out of memory");
        c->carry_cap = rest;
    }
    if (rest) memcpy(c->carry, s, rest);
    c->carry_len = rest;
    return 1;
}

static void backlog(client_t *c) {
    if (c->backlogged) return;
    c->backlogged = 1;
    tls_backlog[n_backlog++] = (int)(c - cl);
}

/* Like the plaintext path: up to 8 rounds of up to 1 MiB, a round being as many
 * SSL_read()s (a TLS record or less each) as fill the buffer or drain the socket.
 * With read-ahead the SSL object reads more from the socket than one record, so
 * when the rounds run out, records may be buffered in it where epoll cannot see
 * them: SSL_pending/SSL_has_pending put the client on tls_backlog, which the
 * event loop reads again before it blocks. */
static void tls_readable(client_t *c) {
    if (!c->hs_done) {
        if (tls_handshake(c) <= 0) return;
        flush(c); /* NICK/USER queued during the handshake */
        if (c->fd < 0) return;
    }
    for (int round = 0; round < 8 && c->fd >= 0; round++) {
        uint32_t keep = c->carry_len, got = 0;
        if (keep) memcpy(rbuf, c->carry, keep);
        int drained = 0, fail = 0, saved = 0;
        while (keep + got < RBUF) {
            ERR_clear_error();
            int n = SSL_read(c->ssl, rbuf + keep + got, (int)(RBUF - keep - got));
            if (n > 0) {
                got += (uint32_t)n;
                ssl_reads_all++;
                if (measuring) ssl_reads_run++;
                continue;
            }
            saved = errno;
            int err = SSL_get_error(c->ssl, n);
            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
                c->rd_want_write = err == SSL_ERROR_WANT_WRITE;
                drained = 1;
            } else
                fail = err;
            break;
        }
        if (drained) tls_interest(c);
        if (got && !consume(c, keep, got)) return; /* lines before an error or close still count */
        if (fail) { tls_fail(c, "SSL_read", fail, saved); return; }
        if (drained) return;
    }
    if (c->fd >= 0 && (SSL_pending(c->ssl) > 0 || SSL_has_pending(c->ssl))) backlog(c);
}

static void readable(client_t *c) {
    if (c->ssl) { tls_readable(c); return; }
    for (int round = 0; round < 8 && c->fd >= 0; round++) {
        uint32_t keep = c->carry_len;
        if (keep) memcpy(rbuf, c->carry, keep);
        ssize_t n = recv(c->fd, rbuf + keep, RBUF - keep, MSG_DONTWAIT);
        if (n <= 0) {
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
            drop(c, n == 0 ? (c->state == S_READY ? "server closed the connection"
                                                 : "server closed the connection before the client was ready")
                           : strerror(errno));
            return;
        }
        if (!consume(c, keep, (size_t)n)) return;
        if ((size_t)n < RBUF - keep) return; /* socket drained */
    }
}

/* --------------------------------------------------------------- sending */
static char padding[512];

static void message(client_t *c, uint32_t sid, uint32_t seq, uint64_t ts) {
    char head[160];
    int h = snprintf(head, sizeof head, "PRIVMSG %s :", opt.channel);
    int b = snprintf(head + h, sizeof head - (size_t)h, "%%%u.%u.%u.%" PRIu64 ".", run_tag, sid, seq, ts);
    put(c, head, (uint32_t)(h + b));
    if (opt.size > b) put(c, padding, (uint32_t)(opt.size - b));
    put(c, "\r\n", 2);
    sent++;
}

static inline int may_send(int s) {
    if (window <= 0) return 1;
    uint64_t out = (uint64_t)next_seq[s] * fanout;
    out = out > rx_of[s] ? out - rx_of[s] : 0;
    return out + fanout <= (uint64_t)window * fanout;
}

#define OUT_HIGH (256u * 1024u)

static void pump_fullspeed(void) {
    for (int s = 0; s < nsend; s++) {
        client_t *c = &cl[s];
        if (c->state != S_READY) continue;
        int n = 0;
        uint64_t ts = now_ns();
        while (next_seq[s] < (uint32_t)nmsg && may_send(s) && pending(c) < OUT_HIGH) {
            message(c, (uint32_t)s, next_seq[s]++, ts);
            n++;
        }
        if (n) flush(c);
    }
}

static void pump_paced(uint64_t now) {
    uint64_t due = (uint64_t)((double)(now - t_run) * opt.rate / 1e9) + 1;
    if (due > total_msgs) due = total_msgs;
    uint64_t done = 0;
    for (int s = 0; s < nsend; s++) done += next_seq[s];
    while (done < due) {
        int s = (int)(done % (uint64_t)nsend);
        client_t *c = &cl[s];
        if (c->state != S_READY) { next_seq[s]++; done++; sent++; continue; } /* counted, never delivered */
        if (!may_send(s) || pending(c) >= OUT_HIGH) break;
        message(c, (uint32_t)s, next_seq[s]++, now_ns());
        flush(c);
        done++;
    }
}

static void pump_idle(uint64_t now) {
    uint64_t want = n_ready > 0 ? (uint64_t)n_ready - 1 : 0;
    if (probe_cur >= 0) {
        if (probe_hits < want && now - probe_t < 2000000000ull) return;
        probes_done++;
        probe_cur = -1;
        probe_next = now + (uint64_t)(opt.probe_gap_ms * 1e6);
    }
    if (probes_done >= nmsg || cl[0].state != S_READY || now < probe_next) return;
    probe_cur = probes_done;
    probe_hits = 0;
    probe_t = now_ns();
    next_seq[0] = (uint32_t)probe_cur + 1;
    message(&cl[0], 0, (uint32_t)probe_cur, probe_t);
    flush(&cl[0]);
}

/* ----------------------------------------------------------------- /proc */
static void proc_mem(long *rss, long *hwm) {
    if (rss) *rss = -1;
    if (hwm) *hwm = -1;
    if (!opt.pid) return;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/status", opt.pid);
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(buf, sizeof buf, f)) {
        if (rss && !strncmp(buf, "VmRSS:", 6)) *rss = atol(buf + 6);
        if (hwm && !strncmp(buf, "VmHWM:", 6)) *hwm = atol(buf + 6);
    }
    fclose(f);
}
static double pid_cpu(int pid) { /* utime + stime of a process, seconds */
    if (!pid) return 0;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    unsigned long ut = 0, st = 0;
    /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}
/* --cpu-pid processes: CPU seconds at the four marks (registration start/end, run start/end) */
static double xcpu[MAX_CPU_PIDS][4];
static double proc_cpu_at(int mark) { /* the server's (-S) CPU; also records the --cpu-pid ones */
    for (int i = 0; i < opt.npids; i++) xcpu[i][mark] = pid_cpu(opt.pids[i]);
    return pid_cpu(opt.pid);
}
static void self_cpu(double *all, double *sys) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double u = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, k = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    if (all) *all = u + k;
    if (sys) *sys = k;
}

/* ---------------------------------------------------------------- report */
static void jstr(const char *k, const char *v) {
    printf(",\"%s\":\"", k);
    for (; *v; v++) {
        unsigned char ch = (unsigned char)*v;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20 || ch > 0x7e) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}
static int cmpu64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static long rss_base = -1, rss_reg = -1, rss_end = -1, hwm_end = -1;
static double scpu_reg0, scpu_reg1, scpu_run0, scpu_run1, gcpu_reg0, gcpu_reg1, gcpu_run0, gcpu_run1, gsys_run0,
    gsys_run1;
static uint64_t wait_ns;
static int timed_out, stalled;

static void report(void) {
    const char *status;
    if (!t_run) status = "register_incomplete";
    else if (expected && received == expected) status = "complete";
    else if (interrupted) status = "interrupted";
    else if (timed_out) status = "timeout";
    else if (stalled) status = "stalled";
    else status = "drained_incomplete";
    uint64_t run_stop = (expected && received == expected && t_last_rx > t_run) ? t_last_rx : t_end;
    double run_s = t_run ? (double)(run_stop - t_run) / 1e9 : 0, wall = t_run ? (double)(t_end - t_run) / 1e9 : 0;
    double reg_s = (double)((t_reg ? t_reg : t_end) - t0) / 1e9;
    printf("{\"tool\":\"chatload\",\"version\":\"" CHATLOAD_VERSION "\"");
    jstr("label", opt.label);
    jstr("mode", opt.idle ? "idle" : opt.rate > 0 ? "paced" : "fullspeed");
    jstr("status", status);
    printf(",\"clients\":%d,\"connected_ok\":%d,\"registered\":%d,\"joined\":%d,\"disconnects\":%d,"
           "\"nick_retries\":%d,\"abandoned_at_reg_timeout\":%d",
           opt.clients, n_started - n_conn_fail, n_registered, t_run ? n_joined : n_ready, n_closed - n_dropped,
           n_nick_retries, n_dropped);
    printf(",\"senders\":%d,\"msgs_per_sender\":%d,\"window\":%d,\"rate\":%g,\"size\":%d", nsend, nmsg, window,
           opt.rate, opt.size);
    printf(",\"sent\":%" PRIu64 ",\"expected\":%" PRIu64 ",\"received\":%" PRIu64 ",\"lost\":%" PRId64, sent, expected,
           received, (int64_t)expected - (int64_t)received);
    if (seen) printf(",\"duplicates\":%" PRIu64, dups);
    else printf(",\"duplicates\":null");
    printf(",\"out_of_order\":%" PRIu64 ",\"self_echo\":%" PRIu64 ",\"foreign\":%" PRIu64, ooo, self_echo, foreign);
    if (seen && t_run && expected && received < expected) {
        /* which deliveries are missing: up to 16 (receiver, sender, seq), the highest missing seq, and how
         * many receivers miss anything (with --host2 their node is receiver % 2) */
        int shown = 0, receivers_missing = 0;
        int64_t max_seq = -1;
        printf(",\"missing_sample\":[");
        for (int r = 0; r < opt.clients; r++) {
            if (cl[r].state != S_READY) continue;
            int any = 0;
            for (int sd = 0; sd < nsend; sd++) {
                if (sd == r) continue;
                for (int q = 0; q < nmsg && q < (int)next_seq[sd]; q++) {
                    size_t bit = ((size_t)r * (size_t)nsend + (size_t)sd) * (size_t)nmsg + (size_t)q;
                    if (seen[bit >> 3] & (1u << (bit & 7))) continue;
                    any = 1;
                    if (q > max_seq) max_seq = q;
                    if (shown < 16) printf("%s[%d,%d,%d]", shown++ ? "," : "", r, sd, q);
                }
            }
            receivers_missing += any;
        }
        printf("],\"missing_max_seq\":%" PRId64 ",\"receivers_missing\":%d", max_seq, receivers_missing);
    }
    printf(",\"register_s\":%.3f,\"run_s\":%.4f,\"deliveries_per_s\":%.0f,\"msgs_per_s\":%.0f", reg_s, run_s,
           run_s > 0 ? (double)received / run_s : 0.0, run_s > 0 ? (double)sent / run_s : 0.0);
    printf(",\"lat_us\":{\"p50\":%" PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64
           ",\"max\":%" PRIu64 ",\"mean\":%.0f,\"n\":%" PRIu64 "}",
           hpercentile(&hist, 0.5), hpercentile(&hist, 0.9), hpercentile(&hist, 0.99), hpercentile(&hist, 0.999),
           hist.max, hist.n ? hist.sum / (double)hist.n : 0.0, hist.n);
    if (opt.host2) {
        const histo_t *hs[2] = {&hist_cross, &hist_same};
        const char *names[2] = {"lat_cross_us", "lat_same_us"};
        for (int i = 0; i < 2; i++)
            printf(",\"%s\":{\"p50\":%" PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64
                   ",\"max\":%" PRIu64 ",\"mean\":%.0f,\"n\":%" PRIu64 "}",
                   names[i], hpercentile(hs[i], 0.5), hpercentile(hs[i], 0.9), hpercentile(hs[i], 0.99),
                   hpercentile(hs[i], 0.999), hs[i]->max, hs[i]->n ? hs[i]->sum / (double)hs[i]->n : 0.0, hs[i]->n);
    }
    if (opt.idle) {
        int np = probes_done;
        uint64_t *v = calloc((size_t)np + 1, sizeof *v), least = np ? UINT64_MAX : 0;
        for (int i = 0; i < np; i++) {
            v[i] = probe_done_us[i];
            if (probe_reach[i] < least) least = probe_reach[i];
        }
        qsort(v, (size_t)np, sizeof *v, cmpu64);
        printf(",\"probes\":%d,\"probe_fanout_complete_us\":{\"p50\":%" PRIu64 ",\"max\":%" PRIu64
               "},\"probe_min_receivers\":%" PRIu64,
               np, np ? v[np / 2] : 0, np ? v[np - 1] : 0, least);
        free(v);
    }
    printf(",\"lines_rx\":%" PRIu64 ",\"bytes_rx\":%" PRIu64 ",\"reads_run\":%" PRIu64 ",\"reads_total\":%" PRIu64
           ",\"deliveries_per_read\":%.2f",
           lines_rx, bytes_rx, reads_run, reads_all, reads_run ? (double)received / (double)reads_run : 0.0);
    printf(",\"tls\":%s", opt.tls ? "true" : "false");
    if (opt.tls) {
        jstr("tls_version", tls_version);
        jstr("tls_cipher", tls_cipher);
        printf(",\"ssl_reads_run\":%" PRIu64 ",\"ssl_reads_total\":%" PRIu64 ",\"tls_backlog_visits\":%" PRIu64,
               ssl_reads_run, ssl_reads_all, tls_backlog_visits);
    }
    printf(",\"gen_loop_busy_pct\":%.1f,\"gen_cpu_run_s\":%.3f,\"gen_cpu_run_sys_s\":%.3f,\"gen_cpu_run_pct\":%.1f,"
           "\"gen_cpu_reg_s\":%.3f",
           wall > 0 ? 100.0 * (1.0 - (double)wait_ns / 1e9 / wall) : 0.0, gcpu_run1 - gcpu_run0, gsys_run1 - gsys_run0,
           wall > 0 ? 100.0 * (gcpu_run1 - gcpu_run0) / wall : 0.0, gcpu_reg1 - gcpu_reg0);
    if (opt.pid) {
        printf(",\"server_pid\":%d,\"server_cpu_run_s\":%.2f,\"server_cpu_run_pct\":%.1f,\"server_cpu_reg_s\":%.2f",
               opt.pid, scpu_run1 - scpu_run0, wall > 0 ? 100.0 * (scpu_run1 - scpu_run0) / wall : 0.0,
               scpu_reg1 - scpu_reg0);
        printf(",\"server_rss_base_kb\":%ld,\"server_rss_after_reg_kb\":%ld,\"server_rss_kb\":%ld,\"server_hwm_kb\":%ld",
               rss_base, rss_reg, rss_end, hwm_end);
        int members = t_run ? n_joined : n_ready;
        if (rss_base > 0 && rss_reg > 0 && members > 0)
            printf(",\"server_rss_per_conn_kb\":%.2f", (double)(rss_reg - rss_base) / members);
    }
    if (opt.npids) {
        const char *keys[2] = {"cpu_pids_reg_s", "cpu_pids_run_s"};
        printf(",\"cpu_pids\":[");
        for (int i = 0; i < opt.npids; i++) printf("%s%d", i ? "," : "", opt.pids[i]);
        printf("]");
        for (int k = 0; k < 2; k++) {
            printf(",\"%s\":[", keys[k]);
            for (int i = 0; i < opt.npids; i++) printf("%s%.3f", i ? "," : "", xcpu[i][2 * k + 1] - xcpu[i][2 * k]);
            printf("]");
        }
    }
    jstr("first_error", first_error);
    jstr("host", opt.host);
    printf(",\"port\":%d", opt.port);
    if (opt.host2) {
        jstr("host2", opt.host2);
        printf(",\"port2\":%d", opt.port2);
    }
    printf("}\n");
    fflush(stdout);
}

/* ------------------------------------------------------------------ main */
static void usage(FILE *f, int code) {
    fprintf(f,
            "chatload " CHATLOAD_VERSION " -- IRC channel load generator (trio-chat benchmarks)\n"
            "usage: chatload [options]\n"
            "  -H, --host ADDR       IPv4 address (default 127.0.0.1)\n"
            "  -p, --port N          port (default 6667)\n"
            "      --host2 ADDR:PORT a second server (another node of the same network): the\n"
            "                        odd-numbered clients connect there; adds cross-node latency\n"
            "  -l, --label NAME      copied into the report\n"
            "  -c, --clients N       clients, all join the channel (default 100)\n"
            "  -s, --senders S       clients 0..S-1 send (default 10)\n"
            "  -m, --msgs M          messages per sender (default 1000)\n"
            "  -w, --window W        in-flight messages per sender, counted in deliveries\n"
            "                        (default 32 at full speed, unlimited when paced; 0 = unlimited)\n"
            "  -r, --rate R          total messages/s, round-robin over senders (0 = full speed)\n"
            "  -b, --size B          body bytes including the header (default 64, max 400)\n"
            "  -C, --channel NAME    channel (default #bench)\n"
            "  -t, --timeout S       bound on the measured phase (default 60)\n"
            "  -R, --reg-timeout S   bound on connect+register+join (default 120)\n"
            "  -d, --drain S         quiet period that ends a run (default 5)\n"
            "  -B, --batch N         clients connecting/registering at once (default 50)\n"
            "  -i, --idle N          idle mode: N members, client 0 sends --probes probes\n"
            "  -P, --probes K        probes in idle mode (default 20)\n"
            "  -g, --probe-gap MS    pause between probes (default 100)\n"
            "  -S, --server-pid PID  read server RSS/CPU from /proc/PID\n"
            "      --cpu-pid PID     also read this process's CPU time (repeatable, up to 8)\n"
            "  -N, --nick-prefix P   nick prefix (default cl)\n"
            "      --no-nodelay      leave Nagle on\n"
            "      --tls             TLS on every connection (OpenSSL; the server's certificate is\n"
            "                        not verified: for loopback benchmarks only)\n"
            "  -v, --verbose         progress on stderr\n");
    exit(code);
}

static void on_signal(int sig) { (void)sig; interrupted = 1; }

int main(int argc, char **argv) {
    static const struct option lo[] = {
        {"host", 1, 0, 'H'},      {"port", 1, 0, 'p'},        {"label", 1, 0, 'l'},       {"clients", 1, 0, 'c'},
        {"senders", 1, 0, 's'},   {"msgs", 1, 0, 'm'},        {"window", 1, 0, 'w'},      {"rate", 1, 0, 'r'},
        {"size", 1, 0, 'b'},      {"channel", 1, 0, 'C'},     {"timeout", 1, 0, 't'},     {"reg-timeout", 1, 0, 'R'},
        {"drain", 1, 0, 'd'},     {"batch", 1, 0, 'B'},       {"idle", 1, 0, 'i'},        {"probes", 1, 0, 'P'},
        {"probe-gap", 1, 0, 'g'}, {"server-pid", 1, 0, 'S'},  {"nick-prefix", 1, 0, 'N'}, {"no-nodelay", 0, 0, 1},
        {"verbose", 0, 0, 'v'},   {"help", 0, 0, 'h'},        {"tls", 0, 0, 2},           {"host2", 1, 0, 3},
        {"cpu-pid", 1, 0, 4},     {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "H:p:l:c:s:m:w:r:b:C:t:R:d:B:i:P:g:S:N:vh", lo, NULL)) != -1) {
        switch (ch) {
        case 'H': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'l': opt.label = optarg; break;
        case 'c': opt.clients = atoi(optarg); break;
        case 's': opt.senders = atoi(optarg); break;
        case 'm': opt.msgs = atoi(optarg); break;
        case 'w': opt.window = atoi(optarg); break;
        case 'r': opt.rate = atof(optarg); break;
        case 'b': opt.size = atoi(optarg); break;
        case 'C': opt.channel = optarg; break;
        case 't': opt.timeout = atof(optarg); break;
        case 'R': opt.reg_timeout = atof(optarg); break;
        case 'd': opt.drain = atof(optarg); break;
        case 'B': opt.batch = atoi(optarg); break;
        case 'i': opt.idle = atoi(optarg); break;
        case 'P': opt.probes = atoi(optarg); break;
        case 'g': opt.probe_gap_ms = atof(optarg); break;
        case 'S': opt.pid = atoi(optarg); break;
        case 'N': opt.prefix = optarg; break;
        case 1: opt.nodelay = 0; break;
        case 2: opt.tls = 1; break;
        case 3: {
            static char h2[64];
            const char *colon = strrchr(optarg, ':');
            if (!colon || colon == optarg || (size_t)(colon - optarg) >= sizeof h2) fatal("--host2 wants ADDR:PORT");
            memcpy(h2, optarg, (size_t)(colon - optarg));
            h2[colon - optarg] = 0;
            opt.host2 = h2;
            opt.port2 = atoi(colon + 1);
            break;
        }
        case 4:
            if (opt.npids >= MAX_CPU_PIDS) fatal("at most %d --cpu-pid", MAX_CPU_PIDS);
            opt.pids[opt.npids++] = atoi(optarg);
            break;
        case 'v': opt.verbose = 1; break;
        case 'h': usage(stdout, 0); break;
        default: usage(stderr, 2);
        }
    }
    if (optind != argc) usage(stderr, 2);
    if (opt.idle > 0) {
        opt.clients = opt.idle;
        opt.senders = 1;
        opt.msgs = opt.probes;
        opt.rate = 0;
    }
    if (opt.clients < 2) fatal("--clients must be at least 2");
    if (opt.senders < 1 || opt.senders >= opt.clients) fatal("--senders must be in 1..clients-1");
    if (opt.msgs < 1) fatal("--msgs must be at least 1");
    if (opt.size < 1 || opt.size > 400) fatal("--size must be in 1..400");
    if (opt.batch < 1) opt.batch = 1;
    if (opt.timeout <= 0 || opt.reg_timeout <= 0 || opt.drain <= 0) fatal("timeouts must be positive");
    window = opt.window >= 0 ? opt.window : (opt.rate > 0 || opt.idle) ? 0 : 32;
    nsend = opt.senders;
    nmsg = opt.msgs;
    memset(padding, '-', sizeof padding);

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opt.port);
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) fatal("bad --host %s: an IPv4 address please", opt.host);
    if (opt.host2) {
        memset(&addr2, 0, sizeof addr2);
        addr2.sin_family = AF_INET;
        addr2.sin_port = htons((uint16_t)opt.port2);
        if (inet_pton(AF_INET, opt.host2, &addr2.sin_addr) != 1 || opt.port2 <= 0 || opt.port2 > 65535)
            fatal("bad --host2 %s:%d: an IPv4 address and a port please", opt.host2, opt.port2);
    }

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t need = (rlim_t)opt.clients + 32;
    if (rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < need)
            fatal("%lu file descriptors needed, the hard limit is %lu (raise ulimit -Hn)", (unsigned long)need,
                  (unsigned long)rl.rlim_max);
    }
    if (opt.tls) {
        ssl_ctx = SSL_CTX_new(TLS_client_method());
        if (!ssl_ctx) fatal("SSL_CTX_new failed");
        SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
        /* No certificate or host name verification, on purpose: chatload only
         * benchmarks a server on loopback that runs with a throwaway self-signed
         * certificate.  Never reuse this setting in a client for real networks. */
        SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
        /* a blocked SSL_write is retried from c->out, which may move and grow meanwhile */
        SSL_CTX_set_mode(ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        SSL_CTX_set_read_ahead(ssl_ctx, 1); /* fewer recv()s; SSL_pending/SSL_has_pending cover the buffering */
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
        SSL_CTX_set_options(ssl_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF); /* EOF = "server closed", as in plaintext */
#endif
        tls_backlog = calloc((size_t)opt.clients, sizeof *tls_backlog);
        if (!tls_backlog) fatal("out of memory");
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    run_tag = (uint32_t)((now_ns() >> 10) ^ ((uint64_t)getpid() << 8)) % 1000000u + 1u;
    cl = calloc((size_t)opt.clients, sizeof *cl);
    next_seq = calloc((size_t)nsend, sizeof *next_seq);
    rx_of = calloc((size_t)nsend, sizeof *rx_of);
    probe_done_us = calloc((size_t)nmsg, sizeof *probe_done_us);
    probe_reach = calloc((size_t)nmsg, sizeof *probe_reach);
    hiwater = malloc((size_t)opt.clients * (size_t)nsend * sizeof *hiwater);
    if (!cl || !next_seq || !rx_of || !probe_done_us || !probe_reach || !hiwater) fatal("out of memory");
    for (size_t i = 0; i < (size_t)opt.clients * (size_t)nsend; i++) hiwater[i] = -1;
    size_t bits = (size_t)opt.clients * (size_t)nsend * (size_t)nmsg;
    if (bits / 8 <= ((size_t)1 << 30)) seen = calloc(bits / 8 + 1, 1); /* else: no duplicate detection */
    for (int i = 0; i < opt.clients; i++) cl[i].fd = -1;

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) fatal("epoll_create1: %s", strerror(errno));

    proc_mem(&rss_base, NULL);
    scpu_reg0 = proc_cpu_at(0);
    self_cpu(&gcpu_reg0, NULL);
    t0 = now_ns();
    uint64_t reg_deadline = t0 + (uint64_t)(opt.reg_timeout * 1e9), run_deadline = 0, last_note = t0;
    int next = 0;
    static struct epoll_event ev[1024];

    for (;;) {
        uint64_t now = now_ns();
        if (interrupted) break;
        if (!measuring) {
            while (next < opt.clients && n_inprog < opt.batch) start(&cl[next++]);
            if ((next >= opt.clients && n_inprog == 0) || now >= reg_deadline) {
                t_reg = now;
                proc_mem(&rss_reg, NULL);
                scpu_reg1 = proc_cpu_at(1);
                self_cpu(&gcpu_reg1, NULL);
                for (int i = 0; i < opt.clients; i++)
                    if (cl[i].fd >= 0 && cl[i].state != S_READY) { n_dropped++; drop(&cl[i], NULL); }
                int senders_ready = 1;
                for (int s = 0; s < nsend; s++) senders_ready &= cl[s].state == S_READY;
                note("registration: %d/%d ready in %.2fs", n_ready, opt.clients, (double)(now - t0) / 1e9);
                if (n_ready < 2 || !senders_ready) {
                    first_err("registration incomplete", 23);
                    t_end = now;
                    break;
                }
                n_joined = n_ready;
                fanout = (uint64_t)n_ready - 1;
                total_msgs = (uint64_t)nsend * (uint64_t)nmsg;
                expected = total_msgs * fanout;
                measuring = 1;
                scpu_run0 = proc_cpu_at(2);
                self_cpu(&gcpu_run0, &gsys_run0);
                t_run = t_last_rx = probe_next = now = now_ns();
                run_deadline = t_run + (uint64_t)(opt.timeout * 1e9);
            }
        }
        if (measuring) {
            if (opt.idle) pump_idle(now);
            else if (opt.rate > 0) pump_paced(now);
            else pump_fullspeed();
            uint64_t queued = 0;
            for (int s = 0; s < nsend; s++) queued += next_seq[s];
            if (!t_all_sent && queued >= total_msgs && (!opt.idle || probe_cur < 0)) t_all_sent = now;
            int stop = 0;
            if (opt.idle ? probes_done >= nmsg : received >= expected) stop = 1;
            if (now >= run_deadline) stop = timed_out = 1;
            uint64_t quiet = (uint64_t)(opt.drain * 1e9);
            if (t_all_sent && now - (t_last_rx > t_all_sent ? t_last_rx : t_all_sent) > quiet) stop = 1;
            if (!t_all_sent && !opt.idle && now - t_last_rx > quiet) stop = stalled = 1;
            if (stop) { t_end = now; break; }
        }
        if (opt.verbose && now - last_note > 1000000000ull) {
            last_note = now;
            note("ready %d/%d, in progress %d, sent %" PRIu64 ", received %" PRIu64 "/%" PRIu64, n_ready,
                 opt.clients, n_inprog, sent, received, expected);
        }
        /* how long to block */
        int64_t wait = 100000000;
        if (n_backlog) wait = 0; /* decrypted data waits in SSL objects: only poll */
        else if (measuring) {
            if (opt.rate > 0) {
                uint64_t done = 0;
                for (int s = 0; s < nsend; s++) done += next_seq[s];
                if (done < total_msgs) {
                    uint64_t due = t_run + (uint64_t)((double)done * 1e9 / opt.rate);
                    wait = due > now ? (int64_t)(due - now) : 0;
                }
                if (wait > 10000000) wait = 10000000;
            } else {
                wait = opt.idle ? 1000000 : 10000000;
            }
        }
        struct timespec ts = {.tv_sec = wait / 1000000000, .tv_nsec = wait % 1000000000};
        uint64_t w0 = now_ns();
        int n = epoll_pwait2(epfd, ev, 1024, &ts, NULL);
        if (n < 0 && errno == ENOSYS) n = epoll_wait(epfd, ev, 1024, (int)((wait + 999999) / 1000000));
        if (measuring) wait_ns += now_ns() - w0;
        if (n < 0) {
            if (errno == EINTR) continue;
            fatal("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            client_t *c = &cl[ev[i].data.u32];
            uint32_t e = ev[i].events;
            if (c->fd < 0) continue;
            if (c->state == S_CONNECTING) {
                if (!(e & (EPOLLOUT | EPOLLERR | EPOLLHUP))) continue;
                connected(c);
                if (c->fd < 0) continue;
                e &= ~(uint32_t)EPOLLOUT;
            }
            if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                readable(c);
                if (c->ssl && c->wr_want_read) flush(c); /* SSL_write waited for the socket to be readable */
            }
            if (c->fd >= 0 && (e & EPOLLOUT)) {
                if (c->ssl && c->rd_want_write) readable(c); /* SSL_read waited for it to be writable */
                if (c->fd >= 0) flush(c);
            }
        }
        if (n_backlog) { /* TLS records buffered in SSL objects, read after this round's events */
            int nb = n_backlog; /* readable(c) may put c (only c) back: at an index <= i, already visited */
            n_backlog = 0;
            for (int i = 0; i < nb; i++) {
                client_t *c = &cl[tls_backlog[i]];
                c->backlogged = 0;
                tls_backlog_visits++;
                if (c->fd >= 0) readable(c);
            }
        }
    }
    if (!t_end) t_end = now_ns();
    if (measuring) {
        scpu_run1 = proc_cpu_at(3);
        self_cpu(&gcpu_run1, &gsys_run1);
    } else if (!t_reg) {
        scpu_reg1 = proc_cpu_at(1);
        self_cpu(&gcpu_reg1, NULL);
    }
    proc_mem(&rss_end, &hwm_end);
    report();
    for (int i = 0; i < opt.clients; i++) {
        if (cl[i].fd < 0) continue;
        if (cl[i].ssl) SSL_free(cl[i].ssl);
        struct linger lg = {1, 0};
        setsockopt(cl[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(cl[i].fd);
    }
    return (expected && received == expected) ? 0 : 1;
}
