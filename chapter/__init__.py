"""The RMSProp chapter of "Dive into Deep Learning" (section 12.8 / 11.8), on every backend.

Each module reproduces one part of the chapter: ``trace`` the 2-D experiment,
``plots`` the figures, ``data`` and ``airfoil`` the training on the NASA airfoil
data, ``fashion`` the Fashion-MNIST exercise, ``report`` the whole chapter as one
report.  Framework code here is imported lazily, inside the function that needs it.
"""
