"""The RMSProp chapter of "Dive into Deep Learning" (section 12.8 / 11.8), on every backend.

Each module reproduces one part of the chapter: ``trace`` the 2-D experiment,
``data`` and ``airfoil`` the training on the NASA airfoil data, ``fashion`` the
Fashion-MNIST exercise, ``run`` runs them all; ``measures`` the numbers the
figures and the prose show, ``explain`` the prose of exercises 1 and 2,
``drawing`` the figures' colours, style and saving, ``plots`` the figures,
``report`` the whole chapter as one report, ``cli`` the ``polyprop`` command.
Framework code here is imported lazily, inside the function that needs it.
"""
