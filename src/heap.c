/*
 * heap.c: an intrusive binary min-heap of 64-bit keys.
 *
 * DESIGN
 * The lease thread needs "the lease due first", and must move or remove
 * any lease when it is renewed, lost or stopped. A binary heap in an
 * array gives O(1) top and O(log n) insert, move and remove, with one
 * allocation for the whole heap. The position of each element is kept in
 * the element (intrusive), so removing one needs no search. Rejected: a
 * sorted list (O(n) insert with a thousand leases), a timer wheel (more
 * code, and its resolution would become part of the loss-timing
 * argument), and a generic heap of void pointers with a comparison
 * callback (the only key we need is a time).
 * Pure: tested alone by tests/unit/test_heap.c against a brute-force model.
 */
#include <stdlib.h>

#include "heap.h"

/* Put node n at position i. */
static void place(redlock__heap *h, size_t i, redlock__heap_node *n)
{
    h->v[i] = n;
    n->index = i;
}

/* Move the node at i up while its key is below its parent's. */
static void sift_up(redlock__heap *h, size_t i)
{
    redlock__heap_node *n = h->v[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h->v[p]->key <= n->key)
            break;
        place(h, i, h->v[p]);
        i = p;
    }
    place(h, i, n);
}

/* Move the node at i down while a child's key is below its own. */
static void sift_down(redlock__heap *h, size_t i)
{
    redlock__heap_node *n = h->v[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, min = i;
        uint64_t key = n->key;
        if (l < h->len && h->v[l]->key < key) {
            min = l;
            key = h->v[l]->key;
        }
        if (r < h->len && h->v[r]->key < key)
            min = r;
        if (min == i)
            break;
        place(h, i, h->v[min]);
        i = min;
    }
    place(h, i, n);
}

/* Empty heap. */
void redlock__heap_init(redlock__heap *h)
{
    h->v = NULL;
    h->len = 0;
    h->cap = 0;
}

/* Free the array. */
void redlock__heap_free(redlock__heap *h)
{
    free(h->v);
    redlock__heap_init(h);
}

/* Not in a heap. */
void redlock__heap_node_init(redlock__heap_node *n)
{
    n->key = 0;
    n->index = REDLOCK__HEAP_NONE;
}

/* Insert or re-key. */
bool redlock__heap_set(redlock__heap *h, redlock__heap_node *n, uint64_t key)
{
    n->key = key;
    if (n->index != REDLOCK__HEAP_NONE) {
        sift_down(h, n->index);
        sift_up(h, n->index);
        return true;
    }
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        redlock__heap_node **v = realloc(h->v, cap * sizeof(*v));
        if (v == NULL)
            return false;
        h->v = v;
        h->cap = cap;
    }
    place(h, h->len++, n);
    sift_up(h, n->index);
    return true;
}

/* Remove: the last node takes n's place and is sifted from there. */
void redlock__heap_remove(redlock__heap *h, redlock__heap_node *n)
{
    size_t i = n->index;
    if (i == REDLOCK__HEAP_NONE)
        return;
    n->index = REDLOCK__HEAP_NONE;
    h->len--;
    if (i == h->len)
        return;
    redlock__heap_node *last = h->v[h->len];
    place(h, i, last);
    sift_down(h, i);
    sift_up(h, last->index);
}

/* Smallest key. */
redlock__heap_node *redlock__heap_top(const redlock__heap *h)
{
    return h->len > 0 ? h->v[0] : NULL;
}

/* In a heap? */
bool redlock__heap_contains(const redlock__heap_node *n)
{
    return n->index != REDLOCK__HEAP_NONE;
}
