/*
 * test_heap.c: the intrusive min-heap (heap.c) against a brute-force
 * model: random inserts, re-keys and removals, checking after each step
 * that the top is the smallest key, that every node knows its position,
 * and that the heap order holds; plus the edge cases (empty heap,
 * duplicate keys, removing what is not there, keys at UINT64_MAX).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "heap.h"

enum { N = 200 };

/* Every node in h is where it says, and no child is below its parent. */
static void check_invariants(const redlock__heap *h)
{
    for (size_t i = 0; i < h->len; i++) {
        assert_int_equal(h->v[i]->index, i);
        if (i > 0)
            assert_true(h->v[(i - 1) / 2]->key <= h->v[i]->key);
    }
}

/* The smallest key among the nodes marked in, or UINT64_MAX if none. */
static uint64_t model_min(const redlock__heap_node *nodes, const bool *in,
                          bool *any)
{
    uint64_t min = UINT64_MAX;
    *any = false;
    for (size_t i = 0; i < N; i++)
        if (in[i] && (!*any || nodes[i].key < min)) {
            min = nodes[i].key;
            *any = true;
        }
    return min;
}

/* Simple deterministic generator (xorshift), so failures reproduce. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* 20 000 random operations agree with the model at every step. */
static void test_random_against_model(void **state)
{
    (void)state;
    redlock__heap h;
    redlock__heap_init(&h);
    redlock__heap_node nodes[N];
    bool in[N] = {false};
    for (size_t i = 0; i < N; i++)
        redlock__heap_node_init(&nodes[i]);
    uint64_t seed = 0x9e3779b97f4a7c15u;
    size_t count = 0;
    for (int step = 0; step < 20000; step++) {
        size_t i = (size_t)(next_rand(&seed) % N);
        uint64_t r = next_rand(&seed);
        uint64_t key = r % 1000; /* many duplicate keys */
        if (r % 7 == 0)
            key = UINT64_MAX - (r % 3);
        if (in[i] && r % 3 == 0) {
            redlock__heap_remove(&h, &nodes[i]);
            in[i] = false;
            count--;
        } else {
            assert_true(redlock__heap_set(&h, &nodes[i], key));
            if (!in[i])
                count++;
            in[i] = true;
        }
        assert_int_equal(h.len, count);
        for (size_t k = 0; k < N; k++)
            assert_int_equal(redlock__heap_contains(&nodes[k]), in[k]);
        check_invariants(&h);
        bool any;
        uint64_t min = model_min(nodes, in, &any);
        redlock__heap_node *top = redlock__heap_top(&h);
        if (!any)
            assert_null(top);
        else
            assert_int_equal(top->key, min);
    }
    redlock__heap_free(&h);
}

/* Popping everything yields the keys in order. */
static void test_drain_in_order(void **state)
{
    (void)state;
    redlock__heap h;
    redlock__heap_init(&h);
    redlock__heap_node nodes[N];
    uint64_t seed = 42;
    for (size_t i = 0; i < N; i++) {
        redlock__heap_node_init(&nodes[i]);
        assert_true(redlock__heap_set(&h, &nodes[i],
                                      next_rand(&seed) % 50));
    }
    uint64_t last = 0;
    for (size_t i = 0; i < N; i++) {
        redlock__heap_node *top = redlock__heap_top(&h);
        assert_non_null(top);
        assert_true(top->key >= last);
        last = top->key;
        redlock__heap_remove(&h, top);
        assert_false(redlock__heap_contains(top));
        check_invariants(&h);
    }
    assert_null(redlock__heap_top(&h));
    redlock__heap_free(&h);
}

/* Edge cases: empty heap, removing a node that is not in it, re-keying
 * the top up and a leaf down. */
static void test_edges(void **state)
{
    (void)state;
    redlock__heap h;
    redlock__heap_init(&h);
    assert_null(redlock__heap_top(&h));
    redlock__heap_node a, b, c;
    redlock__heap_node_init(&a);
    redlock__heap_node_init(&b);
    redlock__heap_node_init(&c);
    redlock__heap_remove(&h, &a); /* not in it: ignored */
    assert_int_equal(h.len, 0);
    assert_true(redlock__heap_set(&h, &a, 10));
    assert_true(redlock__heap_set(&h, &b, 20));
    assert_true(redlock__heap_set(&h, &c, 30));
    assert_ptr_equal(redlock__heap_top(&h), &a);
    assert_true(redlock__heap_set(&h, &a, 40)); /* top moves down */
    assert_ptr_equal(redlock__heap_top(&h), &b);
    assert_true(redlock__heap_set(&h, &a, 5)); /* and back up */
    assert_ptr_equal(redlock__heap_top(&h), &a);
    redlock__heap_remove(&h, &a);
    redlock__heap_remove(&h, &a); /* twice: ignored */
    assert_int_equal(h.len, 2);
    assert_ptr_equal(redlock__heap_top(&h), &b);
    check_invariants(&h);
    redlock__heap_free(&h);
    assert_int_equal(h.len, 0);
}

/* Run the tests. */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_against_model),
        cmocka_unit_test(test_drain_in_order),
        cmocka_unit_test(test_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
