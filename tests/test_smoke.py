import matcalc


def test_gradient_of_neuron_sum():
    # ∂(sum(w ⊙ x) + b)/∂w = x
    assert matcalc.diff("sum(w*x)+b", "w").text == "x"


# ---------------------------------------------------------------- a variable named like a built-in symbol


def test_identity_prints_with_its_size_when_a_variable_is_called_I():
    d = matcalc.diff("sum(I) + tr(X)", "X", shapes={"I": "n x n", "X": "n x n"})
    assert d.text == "Iₙ"  # the identity; the variable I is not in the result but is in the header
    assert d.latex(header=False) == "I_{n}"
    assert d.cse() == "Iₙ"
    assert d.steps().rstrip().endswith("∴ Iₙ")
    assert r"&= I_{n}" in d.steps("latex")
    both = matcalc.diff("x'@(I + eye(n))@x", "x")
    assert both.text == "(2Iₙ + I + Iᵀ)x"
    assert both.ascii() == "(2 * eye(n) + I + I.T) @ x"  # the input language has no clash
    # without such a variable the identity stays I
    assert matcalc.diff("tr(X)", "X").text == "I"
    # a size Unicode cannot subscript falls back to _(…)
    from matcalc.dims import Dim
    from matcalc.printing.text import Printer

    assert Printer().size_index(Dim(1, ("m", "n"))) == f"_({Dim(1, ('m', 'n'))})"
    assert Printer().size_index(Dim(1, ("m",)), Dim(1, ("n",))) == "ₘ,ₙ"
    assert Printer().size_index(Dim(1, ("d",))) == "_(d)"


# ---------------------------------------------------------------- threads


def test_concurrent_calls_give_the_serial_answers():
    """Simplification state (memos, trial budget, rule trace) and derivation labels are
    per thread, and node interning is atomic: threads diffing and deriving at once get
    exactly what one thread gets."""
    import threading

    cases = [("x'@A@x", "x"), ("norm(A@x - v)^2", "x"), ("sum(sigmoid(W@x))", "W"), ("logdet(X)", "X"), ("tr(X'@A@X)", "X")]
    serial = {e: (matcalc.diff(e, w).text, matcalc.diff(e, w).steps()) for e, w in cases}
    errors: list[str] = []

    def work(k: int) -> None:
        try:
            for i in range(30):
                e, w = cases[(i + k) % len(cases)]
                d = matcalc.diff(e, w)
                if (d.text, d.steps()) != serial[e]:
                    errors.append(e)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]


def test_steps_with_the_matrix_exponential():
    """tr(e^u) is one local step (its derivative tr(e^u du) has a closed form); e^X inside a
    product has none alone, and the derivation falls back to the whole differential."""
    d = matcalc.diff("tr(expm(A@X))", "X")
    text = d.steps()
    assert "f = tr(expm(u₁))" in text and "df = tr(expm(u₁) du₁)" in text
    assert text.rstrip().endswith("∴ " + d.text)
    d = matcalc.diff("tr(inv(X)@expm(X))", "X")
    text = d.steps()
    assert "Chain rule: on the whole differential" in text and text.rstrip().endswith("∴ " + d.text)
    assert "e^{" in d.steps("latex")
