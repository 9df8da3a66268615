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
