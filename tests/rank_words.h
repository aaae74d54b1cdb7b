/*
 * rank_words.h: the vocabulary of the synthetic places that the ranking
 * unit test (tests/unit/test_rank.c) and its benchmark
 * (tests/bench/rank_100k.c) build: categories, cuisines, words of names
 * and descriptions, and dishes, Latin and Cyrillic, with the cases and
 * letters (Ё, upper case) that text search must fold.
 */
#ifndef PLACESD_TESTS_RANK_WORDS_H
#define PLACESD_TESTS_RANK_WORDS_H

static const char *const cats[] = { "restaurant", "cafe", "bar", "bakery" };
static const char *const cuis[] = { "georgian", "italian", "russian",
    "japanese" };
static const char *const name_words[] = { "Luna", "Cafe", "Sakura", "Roma",
    "Golden", "Dragon", "Corner", "Ромашка", "Кафе", "Ёлка", "Берёзка",
    "Самовар", "Дружба", "ПЕЛЬМЕННАЯ" };
static const char *const desc_words[] = { "cozy", "family", "grill",
    "terrace", "wine", "уютный", "домашняя", "кухня", "вид", "garden" };
static const char *const dishes[] = { "Khachapuri", "Adjarian khachapuri",
    "Khinkali", "Борщ", "Pizza Margherita", "Ramen", "Пельмени",
    "Хачапури по-аджарски", "Caesar salad", "Tiramisu", "Borsch" };

#endif
