"""The review as a page (the same document the PDF prints), for people signed in."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse

from .render.document import pir_html
from .selectors import pir_get_for_user


@login_required
def pir_page(request, pk):
    pir = pir_get_for_user(request.user, pk)
    return HttpResponse(pir_html(pir, for_pdf=False))
