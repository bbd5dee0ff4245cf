from fromzero.text.poems import line_shapes


def test_line_shapes_counts_five_and_seven_character_couplets():
    text = ("秦川雄帝宅，函谷壯皇居。\n"          # 5 + 5
            "\n"
            "朝辭白帝彩雲間，千里江陵一日還。\n"  # 7 + 7
            "兩岸猿聲啼不住，輕舟已過萬重\n"      # cut short: no final punctuation
            "床前明月光，疑是地上霜霜。\n"        # 5 + 6
            "床前明月光。\n")                    # one half-line only
    r = line_shapes(text)
    assert (r["lines"], r["five"], r["seven"]) == (5, 1, 1)
    assert r["fraction"] == 2 / 5
    assert line_shapes(text, drop_last=True)["lines"] == 5          # ends with a newline: complete
    assert line_shapes(text + "白日依山", drop_last=True)["lines"] == 5
    assert line_shapes("")["fraction"] == 0.0
